"""The development login app's rules: who may sign in, and what goes into their tokens.

deploy/local/dev_login.py is a script, not a package: loaded here from its
file. Signing in through it against the real Hydra is in
tests/integration/test_identity_provider.py.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from ilmo_shared.access import Role, roles_in
from tests.support.identity import USERS
from tests.support.pages import Page

SCRIPT = Path(__file__).parents[2] / "deploy" / "local" / "dev_login.py"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def dev_login() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dev_login", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dev_login"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_there_is_one_user_per_role_as_the_tests_expect(dev_login: ModuleType) -> None:
    assert {name: user.role for name, user in dev_login.USERS.items()} == USERS
    assert set(USERS.values()) == set(Role)


@pytest.mark.parametrize("username", sorted(USERS))
def test_each_user_signs_in_with_the_shared_password(dev_login: ModuleType, username: str) -> None:
    assert dev_login.authenticate(username, PASSWORD, PASSWORD).username == username
    assert dev_login.authenticate(f" {username} ", PASSWORD, PASSWORD).username == username


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("organiser", "wrong"),
        ("organiser", ""),
        ("organiser", PASSWORD.upper()),
        ("nobody", PASSWORD),
        ("", PASSWORD),
        ("Organiser", PASSWORD),
    ],
)
def test_a_wrong_username_or_password_signs_no_one_in(
    dev_login: ModuleType, username: str, password: str
) -> None:
    assert dev_login.authenticate(username, password, PASSWORD) is None


def test_the_session_claims_name_the_role_as_the_services_read_it(dev_login: ModuleType) -> None:
    claims = dev_login.session_claims(dev_login.USERS["viewer"])

    assert claims == {"roles": ["viewer"], "name": "Veera Viewer (development)"}
    assert roles_in(claims, "roles") == {Role.VIEWER}


def test_the_login_form_labels_its_fields_and_ties_the_error_to_them(
    dev_login: ModuleType,
) -> None:
    response = dev_login._login_form("challenge-1", username="door", error="Wrong.")
    page = Page(bytes(response.body).decode())

    assert response.status_code == 401
    assert page.lang == "en"
    labels = {attrs["for"] for tag, attrs in page.elements if tag == "label"}
    assert labels == {"username", "password"}
    for field in ("username", "password"):
        attributes = page.by_id(field)
        assert attributes is not None
        assert attributes["aria-invalid"] == "true"
        assert "sign-in-error" in attributes["aria-describedby"].split()
    fields = page.forms[0].fields
    assert fields == {"login_challenge": "challenge-1", "username": "door", "password": ""}
    assert "Wrong." in page.text


def test_the_login_form_without_an_error_marks_nothing_invalid(dev_login: ModuleType) -> None:
    response = dev_login._login_form("challenge-1")
    page = Page(bytes(response.body).decode())

    assert response.status_code == 200
    assert page.by_id("sign-in-error") is None
    assert all("aria-invalid" not in attrs for tag, attrs in page.elements if tag == "input")


def test_the_password_is_the_variable_else_the_generated_file(
    dev_login: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generated = tmp_path / "dev-password"
    generated.write_text("from-the-file\n", encoding="utf-8")
    monkeypatch.delenv("ILMO_DEV_PASSWORD", raising=False)
    assert dev_login._password(generated) == "from-the-file"

    monkeypatch.setenv("ILMO_DEV_PASSWORD", "from-the-variable")
    assert dev_login._password(generated) == "from-the-variable"
