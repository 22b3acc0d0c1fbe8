"""Manage-link tokens: derived from the registration id with a secret, checked safely."""

from __future__ import annotations

from ilmo_shared.manage_links import is_manage_link_token, manage_link, manage_link_token

SECRET = "s" * 40


def test_the_token_is_stable_per_registration_and_differs_between_them() -> None:
    assert manage_link_token(SECRET, "a") == manage_link_token(SECRET, "a")
    assert manage_link_token(SECRET, "a") != manage_link_token(SECRET, "b")
    assert manage_link_token(SECRET, "a") != manage_link_token("t" * 40, "a")
    assert len(manage_link_token(SECRET, "a")) == 43  # 256 bits, base64url without padding


def test_only_the_right_token_passes_and_odd_input_is_simply_refused() -> None:
    token = manage_link_token(SECRET, "reg-1")
    assert is_manage_link_token(SECRET, "reg-1", token)
    assert not is_manage_link_token(SECRET, "reg-2", token)
    assert not is_manage_link_token(SECRET, "reg-1", token[:-1] + "A")
    assert not is_manage_link_token(SECRET, "reg-1", "Ünïcödé")
    assert not is_manage_link_token(SECRET, "reg-1", "")


def test_the_link_points_at_the_manage_page() -> None:
    link = manage_link("https://ilmo.example/", SECRET, "reg-1")
    assert link == f"https://ilmo.example/manage/reg-1?token={manage_link_token(SECRET, 'reg-1')}"
