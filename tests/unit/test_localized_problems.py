"""Problem details in the language the client asks for; English when it asks for none of ours.

``type``, ``status`` and field names never change with the language; only
``title``, ``detail`` and Ilmo's own per-field messages do, and the answer
says which language it is in (``Content-Language``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from ilmo_event_contracts import Language
from ilmo_registration.api import problem_for
from ilmo_registration.catalogue import Violation
from ilmo_registration.domain import EventExists, InvalidEvent
from ilmo_registration.rate_limits import too_many_requests
from ilmo_shared.http.problems import api_language, install_problem_handlers, invalid, not_found
from ilmo_shared.i18n import untranslated

ROOT = Path(__file__).resolve().parents[2]
# The packages whose problem texts go through the gettext catalogues.
TRANSLATED_PACKAGES = {
    "ilmo_shared": ROOT / "shared/src/ilmo_shared",
    "ilmo_registration": ROOT / "services/registration/src/ilmo_registration",
    "ilmo_capacity": ROOT / "services/capacity/src/ilmo_capacity",
    "ilmo_streaming": ROOT / "services/streaming/src/ilmo_streaming",
}


def body(response: JSONResponse) -> dict[str, Any]:
    return dict(json.loads(bytes(response.body)))


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, Language.EN),
        ("", Language.EN),
        ("de-DE, fr;q=0.8", Language.EN),
        ("*", Language.EN),
        ("fi", Language.FI),
        ("sv-FI, en;q=0.5", Language.SV),
        ("de, en-GB;q=0.7, fi;q=0.9", Language.FI),
    ],
)
def test_the_api_answers_in_the_language_asked_and_otherwise_in_english(
    header: str | None, language: Language
) -> None:
    assert api_language(header) is language


@pytest.mark.parametrize(
    ("language", "title"),
    [(Language.EN, "Not found"), (Language.FI, "Ei löytynyt"), (Language.SV, "Hittades inte")],
)
def test_a_problem_speaks_the_language_and_says_so(language: Language, title: str) -> None:
    response = not_found().response(language)
    assert body(response) == {"type": "/problems/not-found", "title": title, "status": 404}
    assert response.headers["Content-Language"] == language.value
    assert "Accept-Language" in response.headers["Vary"]


def test_values_are_filled_in_after_translation() -> None:
    problem = problem_for(EventExists("ministry-day"))
    assert problem.detail == "The id ministry-day is taken."
    assert body(problem.response(Language.FI))["detail"] == "Tunnus ministry-day on jo käytössä."
    assert body(problem.response(Language.SV))["detail"] == "Id:t ministry-day är redan upptaget."


def test_the_retry_after_problem_keeps_its_header_in_every_language() -> None:
    response = too_many_requests(12).response(Language.SV)
    assert body(response)["title"] == "För många begäranden"
    assert body(response)["detail"] == "För många anmälningar. Försök igen om 12 sekunder."
    assert response.headers["Retry-After"] == "12"


def test_field_messages_are_translated_and_field_names_stay() -> None:
    problem = problem_for(
        InvalidEvent(
            [
                Violation("ends_at", "must be after starts_at"),
                Violation(
                    "stream_opens_minutes_before",
                    "must be from 0 to %(minutes)s minutes",
                    {"minutes": 1440},
                ),
            ]
        )
    )
    assert [(e.field, e.message) for e in problem.errors] == [
        ("ends_at", "must be after starts_at"),
        ("stream_opens_minutes_before", "must be from 0 to 1440 minutes"),
    ]
    answer = body(problem.response(Language.FI))
    assert (answer["type"], answer["status"]) == ("/problems/validation", 422)
    assert answer["title"] == "Pyynnössä on virheellisiä tietoja"
    assert answer["errors"] == [
        {"field": "ends_at", "message": "on oltava starts_at-ajan jälkeen"},
        {"field": "stream_opens_minutes_before", "message": "on oltava 0\u20131440 minuuttia"},
    ]


def test_a_message_that_is_not_ilmos_own_stays_in_english() -> None:
    answer = body(
        invalid([Violation("capacity", "Input should be a valid integer")]).response(Language.SV)
    )
    assert answer["errors"] == [{"field": "capacity", "message": "Input should be a valid integer"}]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app, catalogue="ilmo_registration")

    @app.post("/things")
    async def create(thing: _Strict) -> dict[str, str]:
        return {"name": thing.name}

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("unexpected")

    return app


async def _ask(method: str, path: str, language: str | None, **kwargs: Any) -> httpx.Response:
    headers = {} if language is None else {"Accept-Language": language}
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path, headers=headers, **kwargs)


async def test_framework_errors_follow_accept_language() -> None:
    unknown = await _ask("GET", "/nowhere", "sv")
    assert (unknown.status_code, unknown.json()["type"]) == (404, "/problems/not-found")
    assert unknown.json()["title"] == "Hittades inte"
    assert unknown.headers["content-language"] == "sv"

    wrong_method = await _ask("DELETE", "/things", "fi")
    assert wrong_method.json()["title"] == "Menetelmä ei ole sallittu"

    failed = await _ask("GET", "/broken", "fi")
    assert (failed.status_code, failed.json()["title"]) == (500, "Sisäinen palvelinvirhe")


async def test_validation_errors_follow_accept_language() -> None:
    refused = await _ask("POST", "/things", "fi-FI", json={"colour": "red"})
    assert refused.status_code == 422
    assert refused.headers["content-language"] == "fi"
    assert refused.json()["errors"] == [
        {"field": "name", "message": "pakollinen kenttä puuttuu"},
        {"field": "colour", "message": "tuntematon kenttä"},
    ]
    in_english = await _ask("POST", "/things", "de", json={"colour": "red"})
    assert in_english.headers["content-language"] == "en"
    assert in_english.json()["errors"][1] == {"field": "colour", "message": "unknown field"}


@pytest.mark.parametrize("package", sorted(TRANSLATED_PACKAGES))
def test_every_text_has_a_finnish_and_a_swedish_translation(package: str) -> None:
    assert untranslated(package, TRANSLATED_PACKAGES[package]) == {}
