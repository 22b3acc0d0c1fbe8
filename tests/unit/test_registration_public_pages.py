"""The public pages' parts that need no I/O: catalogues, language, form, CSRF token, views."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from starlette.requests import Request

from ilmo_event_contracts import Language
from ilmo_registration import registration_form
from ilmo_registration.csrf import COOKIE, FormTokens
from ilmo_registration.domain import SeatOutlook, seat_outlook
from ilmo_registration.event_views import paragraphs, when
from ilmo_registration.page_language import of_request, switcher
from ilmo_registration.registration_form import read
from ilmo_registration.schemas import EventCreate
from ilmo_shared.i18n import untranslated
from tests.support.registration import NOTICE_VERSION, event_payload

SOURCE = Path(registration_form.__file__).parent


def request(query: str = "", headers: dict[str, str] | None = None, path: str = "/") -> Request:
    raw = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": path,
            "query_string": query.encode(),
            "headers": raw,
        }
    )


def test_every_text_of_the_pages_is_translated_into_finnish_and_swedish() -> None:
    assert untranslated("ilmo_registration", SOURCE) == {}


# -------------------------------------------------------------------- language


def test_the_switcher_wins_then_the_cookie_then_the_browser() -> None:
    assert of_request(request(headers={"Accept-Language": "sv-FI"})).language is Language.SV
    assert of_request(request()).language is Language.FI
    cookie = {"Cookie": "ilmo_lang=en", "Accept-Language": "sv"}
    assert of_request(request(headers=cookie)).language is Language.EN
    chosen = of_request(request("lang=sv", headers=cookie))
    assert (chosen.language, chosen.chosen, chosen.query()) == (Language.SV, True, "?lang=sv")
    assert of_request(request("lang=de", headers={"Accept-Language": "en"})).language is Language.EN


def test_the_manage_page_prefers_the_registrants_language_to_the_browsers() -> None:
    browser = {"Cookie": "ilmo_lang=en", "Accept-Language": "en"}
    assert of_request(request(headers=browser), default=Language.SV).language is Language.SV
    assert of_request(request("lang=fi", headers=browser), default=Language.SV).language is (
        Language.FI
    )


def test_the_switcher_keeps_the_pages_other_parameters() -> None:
    links = switcher(request("token=a%26b&lang=fi"), Language.FI)
    assert [(link.language, link.href, link.current) for link in links] == [
        ("fi", "?token=a%26b&lang=fi", True),
        ("sv", "?token=a%26b&lang=sv", False),
        ("en", "?token=a%26b&lang=en", False),
    ]
    assert [link.name for link in links] == ["Suomeksi", "På svenska", "In English"]


# ------------------------------------------------------------------------ form


def filled(**changes: str) -> dict[str, str]:
    values = {
        "first_name": " Maija ",
        "last_name": "Meikäläinen",
        "email": "maija@example.fi",
        "organisation": "",
        "attendance": "in_person",
        "language": "sv",
        "needs": "",
        "privacy_notice_version": NOTICE_VERSION,
        "form_token": "ignored",
    }
    return {**values, **changes}


def test_a_filled_form_is_the_apis_own_request() -> None:
    submission = read(filled())
    assert submission.errors == []
    assert submission.request is not None
    registrant = submission.request.registrant()
    assert (registrant.first_name, registrant.organisation, registrant.needs) == (
        "Maija",
        None,
        None,
    )
    assert registrant.language is Language.SV


def test_needs_need_the_consent_box() -> None:
    refused = read(filled(needs="Induktiosilmukka"))
    assert [error.field for error in refused.errors] == ["needs_consent"]
    taken = read(filled(needs="Induktiosilmukka", needs_consent="yes"))
    assert taken.request is not None
    assert taken.request.needs_consent is True


def test_errors_come_in_the_forms_order_one_per_field() -> None:
    submission = read(filled(first_name="", email="not an address", attendance="elsewhere"))
    assert [(error.field, error.target) for error in submission.errors] == [
        ("first_name", "first_name"),
        ("email", "email"),
        ("attendance", "attendance-in_person"),
    ]
    assert submission.errors[0].message == "Enter your first name."
    assert submission.input.value("email") == "not an address"
    missing_notice = read(filled(privacy_notice_version=""))
    assert [error.target for error in missing_notice.errors] == ["privacy-notice"]


# ------------------------------------------------------------------------ CSRF


def test_a_form_token_belongs_to_its_cookie_alone() -> None:
    tokens = FormTokens.from_secret(SecretStr("unit-test-manage-link-secret-7d3f91c2ab"))
    token, cookie = tokens.issue(request())
    assert cookie is not None
    with_cookie = request(headers={"Cookie": f"{COOKIE}={cookie}"})
    assert tokens.accepts(with_cookie, token)
    assert tokens.issue(with_cookie) == (token, None)  # the same cookie, the same token
    other_cookie = request(headers={"Cookie": f"{COOKIE}=someone-else"})
    for refused_request, presented in (
        (with_cookie, None),
        (with_cookie, ""),
        (with_cookie, token[:-1]),
        (with_cookie, "é" * 64),
        (other_cookie, token),
        (request(), token),
    ):
        assert not tokens.accepts(refused_request, presented)
    other_key = FormTokens.from_secret(SecretStr("another-manage-link-secret-0000000000"))
    assert not other_key.accepts(with_cookie, token)


# ----------------------------------------------------------------------- views


def test_seats_look_free_until_the_on_site_registrations_fill_them() -> None:
    assert seat_outlook(2, 1) is SeatOutlook.PLACES_LEFT
    assert seat_outlook(2, 2) is SeatOutlook.WAITING_LIST
    assert seat_outlook(0, 0) is SeatOutlook.WAITING_LIST


def test_texts_are_split_into_paragraphs() -> None:
    assert paragraphs("Eka rivi\ntoinen.\n\n\nToka.\r\n") == ["Eka rivi toinen.", "Toka."]
    assert paragraphs(None) == []


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (Language.FI, "perjantai 11.9.2026 klo 9.00\u201312.00 (Suomen aikaa)"),
        (Language.SV, "fredag 11.9.2026 kl. 9.00\u201312.00 (finsk tid)"),
        (Language.EN, "Friday 11 September 2026, 9:00\u201312:00 (Finnish time)"),
    ],
)
def test_an_events_time_names_its_zone_in_words(language: Language, expected: str) -> None:
    starts = datetime(2026, 9, 11, 6, 0, tzinfo=UTC)
    payload = event_payload(
        now=starts - timedelta(days=14),
        starts_at=starts.isoformat(),
        ends_at=(starts + timedelta(hours=3)).isoformat(),
        agenda=[],
    )
    spec = EventCreate.model_validate({**payload, "id": "an-event"}).to_spec()
    assert when(spec, language) == expected
