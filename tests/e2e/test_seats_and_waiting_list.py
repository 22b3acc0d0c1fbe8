"""Seats and the waiting list, end to end: processes only, driven over HTTP and AMQP.

An event with 5 seats gets 12 concurrent in-person and 4 remote
registrations, then 3 seat holders cancel: exactly 5 seats are taken, the
first 3 in line are promoted in order, the registration service's status
endpoints agree with the capacity service, and every bad request gets its
status code.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.amqp import event_tap
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually
from tests.support.processes import ServiceProcess, running_services
from tests.support.registration import ADMIN, NOTICE_VERSION, event_payload

SEATS = 5
IN_PERSON = 12
REMOTE = 4


def person(n: int, attendance: str) -> dict[str, Any]:
    return {
        "first_name": f"Henkilö{n}",
        "last_name": "Testinen",
        "email": f"person{n}@example.fi",
        "organisation": "Kunta",
        "attendance": attendance,
        "language": ("fi", "sv", "en")[n % 3],
        "privacy_notice_version": NOTICE_VERSION,
    }


async def statuses(
    client: httpx.AsyncClient, receipts: dict[str, str]
) -> dict[str, dict[str, Any]]:
    answers = await asyncio.gather(
        *(
            client.get(f"/api/v1/registrations/{rid}", headers={"Authorization": f"Bearer {tok}"})
            for rid, tok in receipts.items()
        )
    )
    for answer in answers:
        assert answer.status_code == 200, answer.text
    return {answer.json()["id"]: answer.json() for answer in answers}


async def seats(capacity: ServiceProcess, event_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=capacity.operations_url, headers=ADMIN) as client:
        answer = await client.get(f"/api/v1/events/{event_id}/seats")
    assert answer.status_code == 200, answer.text
    counts = dict(answer.json())
    # The event starts within minutes and promotes until the start (a cutoff of 0).
    assert counts.pop("promotion_closed") is False
    assert counts.pop("promotion_closes_at") is not None
    return counts


async def test_five_seats_twelve_in_person_four_remote_three_cancellations(
    infrastructure: IsolatedInfrastructure,
) -> None:
    event_id = f"seminar-{uuid.uuid4().hex[:8]}"
    with running_services(infrastructure) as services:
        async with (
            event_tap(infrastructure.amqp_url, "seat.#") as seat_events,
            httpx.AsyncClient(base_url=services["registration"].url, timeout=30) as client,
        ):
            created = await client.post(
                "/api/v1/events",
                json=event_payload(id=event_id, in_person_capacity=SEATS),
                headers=ADMIN,
            )
            assert created.status_code == 201, created.text

            posts = [person(n, "in_person") for n in range(IN_PERSON)]
            posts += [person(IN_PERSON + n, "remote") for n in range(REMOTE)]
            answers = await asyncio.gather(
                *(client.post(f"/api/v1/events/{event_id}/registrations", json=p) for p in posts)
            )
            assert [a.status_code for a in answers] == [202] * len(posts)
            receipts = {a.json()["id"]: a.json()["manage_token"] for a in answers}
            in_person = {a.json()["id"] for a in answers[:IN_PERSON]}

            async def all_decided() -> dict[str, dict[str, Any]] | None:
                now = await statuses(client, receipts)
                decided = [
                    r for r in now.values() if r["status"] in ("seat_reserved", "waitlisted")
                ]
                return now if len(decided) == IN_PERSON else None

            before = await eventually(
                all_decided,
                what="every in-person registrant to get a seat decision",
                timeout=60,
                interval=0.2,
            )
            holders = [rid for rid, r in before.items() if r["status"] == "seat_reserved"]
            waiting = sorted(
                (r["waitlist_position"], rid)
                for rid, r in before.items()
                if r["status"] == "waitlisted"
            )
            assert len(holders) == SEATS
            assert set(holders) <= in_person
            assert [position for position, _ in waiting] == list(range(1, IN_PERSON - SEATS + 1))
            assert all(
                before[rid]["status"] in ("accepted", "remote")
                for rid in receipts
                if rid not in in_person
            )
            assert await seats(services["capacity"], event_id) == {
                "event_id": event_id,
                "capacity": SEATS,
                "reserved": SEATS,
                "waitlisted": IN_PERSON - SEATS,
                "free": 0,
                "over_capacity": 0,
            }

            # Three seat holders cancel; a repeated DELETE changes nothing.
            leaving = holders[:3]
            for rid in leaving:
                for _ in range(2):
                    answer = await client.delete(
                        f"/api/v1/registrations/{rid}",
                        headers={"Authorization": f"Bearer {receipts[rid]}"},
                    )
                    assert answer.status_code in (200, 204), answer.text
            first_in_line = [rid for _, rid in waiting[:3]]

            async def promoted() -> dict[str, dict[str, Any]] | None:
                now = await statuses(client, receipts)
                ok = all(now[rid]["status"] == "seat_reserved" for rid in first_in_line)
                return now if ok else None

            after = await eventually(
                promoted, what="the first three in line to be promoted", timeout=60, interval=0.2
            )
            assert [after[rid]["status"] for rid in leaving] == ["cancelled"] * 3
            assert sum(r["status"] == "seat_reserved" for r in after.values()) == SEATS
            assert sum(r["status"] == "waitlisted" for r in after.values()) == IN_PERSON - SEATS - 3
            assert await seats(services["capacity"], event_id) == {
                "event_id": event_id,
                "capacity": SEATS,
                "reserved": SEATS,
                "waitlisted": IN_PERSON - SEATS - 3,
                "free": 0,
                "over_capacity": 0,
            }

            # The promotions happened in waiting-list order, once each.
            reserved = await seat_events.wait_for(SEATS + 3, routing_key="seat.reserved")
            promotions = [m.data["registration_id"] for m in reserved if m.data["promoted"]]
            assert promotions == first_in_line
            released = await seat_events.wait_for(3, routing_key="seat.released")
            assert sorted(m.data["registration_id"] for m in released) == sorted(leaving)

            await _every_bad_request_gets_its_status(client, event_id, receipts)


async def _every_bad_request_gets_its_status(
    client: httpx.AsyncClient, event_id: str, receipts: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    closed_id = f"closed-{uuid.uuid4().hex[:8]}"
    closed = event_payload(
        id=closed_id,
        registration_opens_at=(now - timedelta(days=3)).isoformat(),
        registration_closes_at=(now - timedelta(days=1)).isoformat(),
    )
    assert (await client.post("/api/v1/events", json=closed, headers=ADMIN)).status_code == 201
    unpublished_id = f"draft-{uuid.uuid4().hex[:8]}"
    draft = event_payload(id=unpublished_id, published=False)
    assert (await client.post("/api/v1/events", json=draft, headers=ADMIN)).status_code == 201

    register = f"/api/v1/events/{event_id}/registrations"
    good = person(900, "remote")
    cases: list[tuple[str, str, dict[str, Any] | None, dict[str, str], int, str | None]] = [
        ("POST", "/api/v1/events/no-such-event/registrations", good, {}, 404, None),
        ("POST", f"/api/v1/events/{unpublished_id}/registrations", good, {}, 404, None),
        ("POST", f"/api/v1/events/{closed_id}/registrations", good, {}, 409, "registration-closed"),
        ("POST", register, good | {"needs": "Pyörätuoli"}, {}, 422, "needs_consent"),
        (
            "POST",
            register,
            good | {"privacy_notice_version": "0" * 16},
            {},
            409,
            "privacy-notice-changed",
        ),
        ("POST", register, good | {"email": "not-an-email"}, {}, 422, "email"),
        ("POST", register, good | {"attendance": "hybrid"}, {}, 422, "attendance"),
        ("POST", register, good | {"language": "de"}, {}, 422, "language"),
        ("POST", register, good | {"needs": "x" * 501}, {}, 422, "needs"),
        ("POST", register, good | {"first_name": "x" * 1000}, {}, 422, "first_name"),
        ("POST", register, good | {"is_admin": True}, {}, 422, "is_admin"),
        ("POST", register, {k: v for k, v in good.items() if k != "email"}, {}, 422, "email"),
        ("POST", "/api/v1/events", event_payload(), {}, 401, None),
        ("POST", "/api/v1/events", event_payload(), {"Authorization": "Bearer wrong"}, 401, None),
        ("GET", f"/api/v1/events/{event_id}/registrations", None, {}, 401, None),
    ]
    any_id = next(iter(receipts))
    cases += [
        (
            "GET",
            f"/api/v1/registrations/{any_id}",
            None,
            {"Authorization": "Bearer wrong"},
            404,
            None,
        ),
        (
            "DELETE",
            f"/api/v1/registrations/{any_id}",
            None,
            {"Authorization": "Bearer wrong"},
            404,
            None,
        ),
        (
            "GET",
            f"/api/v1/registrations/{uuid.uuid4()}",
            None,
            {"Authorization": "Bearer x"},
            404,
            None,
        ),
    ]
    count_before = len(
        (await client.get(f"/api/v1/events/{event_id}/registrations", headers=ADMIN)).json()
    )
    for method, path, body, headers, status, named in cases:
        answer = await client.request(method, path, json=body, headers=headers)
        assert answer.status_code == status, (method, path, answer.status_code, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json"), path
        problem = answer.json()
        assert problem["status"] == status
        if named is not None:
            assert named in answer.text, (path, named, answer.text)
    # A repeat of a registered address is answered like a new one and stores nothing.
    repeat = person(IN_PERSON, "remote") | {"email": f" PERSON{IN_PERSON}@Example.fi "}
    answer = await client.post(register, json=repeat)
    assert answer.status_code == 202, answer.text
    assert set(answer.json()) == {"id", "status", "manage_token"}
    count_after = len(
        (await client.get(f"/api/v1/events/{event_id}/registrations", headers=ADMIN)).json()
    )
    assert count_after == count_before, "a rejected or repeated request left a registration behind"
