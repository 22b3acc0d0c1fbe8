"""Registering, seeing and cancelling a registration, against the real database and broker."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.collection import AsyncCollection
from structlog.testing import capture_logs

from ilmo_event_contracts import RegistrationAccepted, RegistrationCancelled
from ilmo_registration.storage import RegistrationStore
from ilmo_shared.storage import Document
from tests.support.amqp import event_tap
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.problems import assert_problem
from tests.support.registration import (
    ADMIN,
    MovableClock,
    bearer,
    create_event,
    register,
    registration_payload,
)
from tests.support.settling import relayed


async def test_a_registration_is_stored_with_its_event_and_answered_with_a_manage_token(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
) -> None:
    payload = registration_payload(
        first_name="  Åsa ",
        email="  Asa.Ohman@Example.FI ",
        attendance="remote",
        language="sv",
        needs="Pyörätuoli",
        needs_consent=True,
    )
    async with event_tap(infrastructure.amqp_url, "registration.accepted") as tap:
        response = await client.post(
            f"/api/v1/events/{event['id']}/registrations",
            json=payload,
            headers={"X-Correlation-ID": "register-1"},
        )
        assert response.status_code == 202, response.text
        receipt = response.json()
        seen = await tap.first_where(
            lambda m: m.data["registration_id"] == receipt["id"], what="its registration.accepted"
        )

    assert set(receipt) == {"id", "status", "manage_token"}
    assert receipt["status"] == "accepted"
    assert len(receipt["manage_token"]) >= 43  # 32 random bytes, base64url
    assert response.headers["Location"].endswith(f"/api/v1/registrations/{receipt['id']}")
    assert response.headers["Cache-Control"] == "no-store"

    accepted = RegistrationAccepted.model_validate_json(seen.body)
    assert accepted.event_id == event["id"]
    assert accepted.first_name == "Åsa"
    assert accepted.email == "Asa.Ohman@example.fi"
    assert accepted.attendance.value == "remote"
    assert "needs" not in seen.data
    # Ilmo's own id, answered in the header, travels on; the client's does not.
    assert seen.correlation_id == response.headers["X-Correlation-ID"] != "register-1"

    stored = await registrations.find_one({"_id": receipt["id"]})
    assert stored is not None
    assert stored["email_key"] == "asa.ohman@example.fi"
    assert stored["needs"] == "Pyörätuoli"
    assert (
        stored["manage_token_sha256"]
        == hashlib.sha256(receipt["manage_token"].encode()).hexdigest()
    )
    assert receipt["manage_token"] not in str(stored)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": None}, "email"),
        ({"first_name": "   "}, "first_name"),
        ({"last_name": "x" * 101}, "last_name"),
        ({"organisation": "o" * 201}, "organisation"),
        ({"attendance": "hologram"}, "attendance"),
        ({"language": "de"}, "language"),
        ({"privacy_notice_version": "v1"}, "privacy_notice_version"),
        ({"needs": "Pyörätuoli"}, "needs_consent"),
        ({"needs": "Pyörätuoli", "needs_consent": False}, "needs_consent"),
        ({"needs": "Pyörätuoli", "needs_consent": "yes"}, "needs_consent"),
        ({"needs": "n" * 501, "needs_consent": True}, "needs"),
        ({"first_name": "Matti\nDROP"}, "first_name"),
        ({"is_admin": True}, "is_admin"),
    ],
)
async def test_invalid_input_is_refused_naming_the_field_and_nothing_is_stored(
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
    changes: dict[str, Any],
    field: str,
) -> None:
    response = await client.post(
        f"/api/v1/events/{event['id']}/registrations", json=registration_payload(**changes)
    )
    problem = assert_problem(response, 422, "/problems/validation")
    assert field in {error["field"] for error in problem["errors"]}, problem
    assert all(error["message"] for error in problem["errors"])
    assert await registrations.count_documents({"event_id": event["id"]}) == 0


async def test_missing_fields_are_each_named(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    response = await client.post(f"/api/v1/events/{event['id']}/registrations", json={})
    problem = assert_problem(response, 422, "/problems/validation")
    assert {e["field"] for e in problem["errors"]} == {
        "first_name",
        "last_name",
        "email",
        "attendance",
        "language",
        "privacy_notice_version",
    }


async def test_an_unknown_event_is_not_found(client: httpx.AsyncClient) -> None:
    for event_id in ("no-such-event", "Bad..Id", "x" * 300):
        response = await client.post(
            f"/api/v1/events/{event_id}/registrations", json=registration_payload()
        )
        assert_problem(response, 404, "/problems/not-found")


async def test_registration_is_taken_only_while_the_window_is_open(
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
    clock: MovableClock,
) -> None:
    started = clock.now
    clock.now = started - timedelta(days=2)  # before opening
    response = await client.post(
        f"/api/v1/events/{event['id']}/registrations", json=registration_payload()
    )
    problem = assert_problem(response, 409, "/problems/registration-closed")
    assert "opens" in problem["detail"]

    clock.now = started + timedelta(days=7, seconds=1)  # after closing
    response = await client.post(
        f"/api/v1/events/{event['id']}/registrations", json=registration_payload()
    )
    assert_problem(response, 409, "/problems/registration-closed")
    assert await registrations.count_documents({"event_id": event["id"]}) == 0

    clock.now = started
    await register(client, event["id"])


async def test_one_address_registers_once_even_when_requests_race(
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
) -> None:
    spellings = [
        "kaisa.korhonen@example.fi",
        " Kaisa.Korhonen@example.fi",
        "KAISA.KORHONEN@EXAMPLE.FI ",
        "kaisa.KORHONEN@Example.fi",
        "\tkaisa.korhonen@example.FI",
    ] * 2
    url = f"/api/v1/events/{event['id']}/registrations"
    responses = await asyncio.gather(
        *(client.post(url, json=registration_payload(email=email)) for email in spellings)
    )
    # Every request gets the same answer; one registration is stored.
    assert {r.status_code for r in responses} == {202}
    assert {tuple(sorted(r.json())) for r in responses} == {("id", "manage_token", "status")}
    assert {r.json()["status"] for r in responses} == {"accepted"}
    assert len({r.json()["id"] for r in responses}) == len(responses)
    [stored] = await registrations.find({"event_id": event["id"]}).to_list()
    # Only the stored one's token works; the others lead nowhere, as an unknown id does.
    found = [
        await client.get(
            f"/api/v1/registrations/{r.json()['id']}", headers=bearer(r.json()["manage_token"])
        )
        for r in responses
    ]
    assert sorted(f.status_code for f in found) == [200] + [404] * 9
    [shown] = [f.json() for f in found if f.status_code == 200]
    assert shown["id"] == stored["_id"]

    # The same address may register for another event.
    other = await create_event(client)
    await register(client, other["id"], email="Kaisa.Korhonen@example.fi")


async def test_the_manage_token_shows_the_registration_and_nothing_else(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    receipt = await register(client, event["id"], needs="Induktiosilmukka", needs_consent=True)
    url = f"/api/v1/registrations/{receipt['id']}"

    response = await client.get(url, headers=bearer(receipt["manage_token"]))
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["id"] == receipt["id"]
    assert view["event_id"] == event["id"]
    assert view["status"] == "accepted"
    assert view["waitlist_position"] is None
    assert view["stream_link_provisioned"] is False
    assert view["stream_link_url"] is None
    assert view["needs"] == "Induktiosilmukka"
    assert view["cancelled_at"] is None
    assert response.headers["Cache-Control"] == "no-store"

    other = await register(client, event["id"])
    wrong_token = await client.get(url, headers=bearer(other["manage_token"]))
    unknown_id = await client.get(
        "/api/v1/registrations/00000000-0000-4000-8000-000000000000",
        headers=bearer(receipt["manage_token"]),
    )
    not_an_id = await client.get(
        "/api/v1/registrations/not-an-id", headers=bearer(receipt["manage_token"])
    )
    for response in (wrong_token, unknown_id, not_an_id):
        assert_problem(response, 404, "/problems/not-found")
    assert wrong_token.json() == unknown_id.json() == not_an_id.json()
    assert wrong_token.headers["content-length"] == unknown_id.headers["content-length"]

    missing = await client.get(url)
    assert_problem(missing, 401, "/problems/unauthorized")
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    delete_wrong = await client.delete(url, headers=bearer(other["manage_token"]))
    assert_problem(delete_wrong, 404, "/problems/not-found")


async def test_cancelling_twice_is_harmless_and_publishes_one_cancellation(
    infrastructure: IsolatedInfrastructure,
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
    clock: MovableClock,
) -> None:
    receipt = await register(client, event["id"])
    url = f"/api/v1/registrations/{receipt['id']}"
    token = bearer(receipt["manage_token"])
    clock.now += timedelta(days=10)  # registration has closed; the event has not started
    async with event_tap(infrastructure.amqp_url, "registration.cancelled") as tap:
        first = await client.delete(url, headers=token)
        second = await client.delete(url, headers=token)
        concurrent = await asyncio.gather(*(client.delete(url, headers=token) for _ in range(5)))
        await tap.wait_for(1)
        await relayed(tap, registrations, {"_id": receipt["id"]})  # and a second, were there any
        mine = [m for m in tap.messages if m.data["registration_id"] == receipt["id"]]

    assert first.status_code == second.status_code == 200, first.text
    assert {r.status_code for r in concurrent} == {200}
    assert first.json()["status"] == second.json()["status"] == "cancelled"
    assert first.json()["cancelled_at"] == second.json()["cancelled_at"] is not None
    assert len(mine) == 1
    cancelled = RegistrationCancelled.model_validate_json(mine[0].body)
    assert (str(cancelled.registration_id), cancelled.event_id) == (receipt["id"], event["id"])
    stored = await registrations.find_one({"_id": receipt["id"]})
    assert stored is not None
    assert stored["status"] == "cancelled"
    assert stored["outbox"] == []

    shown = await client.get(url, headers=token)
    assert shown.json()["status"] == "cancelled"


async def test_a_registration_cannot_be_cancelled_once_the_event_has_started(
    client: httpx.AsyncClient, event: dict[str, Any], clock: MovableClock
) -> None:
    receipt = await register(client, event["id"])
    clock.now += timedelta(days=14, minutes=1)
    response = await client.delete(
        f"/api/v1/registrations/{receipt['id']}", headers=bearer(receipt["manage_token"])
    )
    assert_problem(response, 409, "/problems/event-started")
    shown = await client.get(
        f"/api/v1/registrations/{receipt['id']}", headers=bearer(receipt["manage_token"])
    )
    assert shown.json()["status"] == "accepted"


async def test_after_cancelling_the_same_address_may_register_again(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    first = await register(client, event["id"], email="liisa@example.fi")
    response = await client.delete(
        f"/api/v1/registrations/{first['id']}", headers=bearer(first["manage_token"])
    )
    assert response.status_code == 200
    second = await register(client, event["id"], email="LIISA@example.fi")
    assert second["id"] != first["id"]


async def test_administrators_list_registrations_as_json_or_csv_safe_for_spreadsheets(
    client: httpx.AsyncClient, event: dict[str, Any], clock: MovableClock
) -> None:
    plain = await register(client, event["id"], first_name="Aino", organisation="Kela")
    clock.now += timedelta(seconds=1)
    formula = await register(
        client,
        event["id"],
        first_name='=HYPERLINK("http://evil.example")',
        last_name="+SUM(A1:A9)",
        organisation="@attack",
        attendance="remote",
        needs="-1\nsecond line",
        needs_consent=True,
    )
    url = f"/api/v1/events/{event['id']}/registrations"

    listed = await client.get(url, headers=ADMIN)
    assert listed.status_code == 200
    rows = listed.json()
    assert [row["id"] for row in rows] == [plain["id"], formula["id"]]
    assert rows[0]["first_name"] == "Aino"
    assert rows[0]["status"] == "accepted"
    assert "manage_token" not in rows[0]
    assert "stream_link_url" not in rows[0]

    exported = await client.get(url, headers={**ADMIN, "Accept": "text/csv"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [row["id"] for row in table] == [plain["id"], formula["id"]]
    assert table[0]["first_name"] == "Aino"
    assert table[0]["organisation"] == "Kela"
    evil = table[1]
    assert evil["first_name"] == '\'=HYPERLINK("http://evil.example")'
    assert evil["last_name"] == "'+SUM(A1:A9)"
    assert evil["organisation"] == "'@attack"
    assert evil["needs"] == "'-1\nsecond line"
    assert evil["attendance"] == "remote"

    assert_problem(await client.get(url), 401, "/problems/unauthorized")
    assert_problem(
        await client.get("/api/v1/events/no-such-event/registrations", headers=ADMIN),
        404,
        "/problems/not-found",
    )


async def test_an_unexpected_failure_is_a_bare_500_problem_logged_without_personal_data(
    client: httpx.AsyncClient, event: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(_store: object, _event_id: str) -> list[object]:
        raise RuntimeError("could not read maija.virtanen@example.fi")

    monkeypatch.setattr(RegistrationStore, "for_event", broken)
    with capture_logs() as logs:
        response = await client.get(f"/api/v1/events/{event['id']}/registrations", headers=ADMIN)
    problem = assert_problem(response, 500, "/problems/internal-error")
    assert "maija" not in response.text
    assert set(problem) == {"type", "title", "status"}
    [failure] = [entry for entry in logs if entry["event"] == "request_failed"]
    assert failure["error_type"] == "RuntimeError"
    assert failure["route"] == "/api/v1/events/{event_id}/registrations"
    assert "maija" not in repr(logs)
