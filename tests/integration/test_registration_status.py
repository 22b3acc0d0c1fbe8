"""What capacity and streaming report shows in the registrant's status, through the real broker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ilmo_event_contracts import (
    SeatReleased,
    SeatReserved,
    SeatWaitlisted,
    StreamLinkProvisioned,
    StreamLinkRevoked,
    WaitlistLeft,
)
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.polling import eventually
from tests.support.registration import (
    ADMIN,
    bearer,
    publish,
    register,
)

T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)


async def status_of(client: httpx.AsyncClient, receipt: dict[str, Any]) -> dict[str, Any]:
    response = await client.get(
        f"/api/v1/registrations/{receipt['id']}", headers=bearer(receipt["manage_token"])
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_until(
    client: httpx.AsyncClient, receipt: dict[str, Any], **expected: Any
) -> dict[str, Any]:
    async def matches() -> dict[str, Any] | None:
        view = await status_of(client, receipt)
        return view if all(view[k] == v for k, v in expected.items()) else None

    return await eventually(matches, what=f"the status of {receipt['id']} to show {expected}")


def link(receipt: dict[str, Any], event_id: str, path: str = "abc") -> StreamLinkProvisioned:
    return StreamLinkProvisioned(
        registration_id=uuid.UUID(receipt["id"]),
        event_id=event_id,
        url=f"https://stream.example.fi/watch/{path}",
        valid_from=T0,
        valid_until=T0 + timedelta(hours=4),
    )


async def test_seat_and_stream_reports_show_in_the_status_and_never_go_backwards(
    infrastructure: IsolatedInfrastructure, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    receipt = await register(client, event["id"], attendance="in_person")
    registration_id = uuid.UUID(receipt["id"])
    event_id = event["id"]

    await publish(
        infrastructure,
        SeatWaitlisted(
            registration_id=registration_id, event_id=event_id, position=3, waitlisted_at=T0
        ),
    )
    view = await wait_until(client, receipt, status="waitlisted")
    assert view["waitlist_position"] == 3

    await publish(
        infrastructure,
        SeatWaitlisted(
            registration_id=registration_id,
            event_id=event_id,
            position=1,
            waitlisted_at=T0 + timedelta(minutes=5),
        ),
    )
    await wait_until(client, receipt, waitlist_position=1)

    promoted = SeatReserved(
        registration_id=registration_id,
        event_id=event_id,
        promoted=True,
        reserved_at=T0 + timedelta(minutes=10),
    )
    await publish(infrastructure, promoted)
    view = await wait_until(client, receipt, status="seat_reserved")
    assert view["waitlist_position"] is None

    # A late waiting-list report and a redelivery change nothing; the stream
    # link report that follows them in the queue shows they were handled.
    await publish(
        infrastructure,
        SeatWaitlisted(
            registration_id=registration_id,
            event_id=event_id,
            position=2,
            waitlisted_at=T0 + timedelta(minutes=7),
        ),
        promoted,
        link(receipt, event_id),
    )
    view = await wait_until(client, receipt, stream_link_provisioned=True)
    assert view["status"] == "seat_reserved"
    assert view["waitlist_position"] is None
    assert view["stream_link_url"] == "https://stream.example.fi/watch/abc"

    listed = await client.get(f"/api/v1/events/{event_id}/registrations", headers=ADMIN)
    [row] = [r for r in listed.json() if r["id"] == receipt["id"]]
    assert (row["status"], row["stream_link_provisioned"]) == ("seat_reserved", True)


async def test_reports_arriving_out_of_order_end_in_the_latest_state(
    infrastructure: IsolatedInfrastructure, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    receipt = await register(client, event["id"], attendance="in_person")
    registration_id = uuid.UUID(receipt["id"])
    await publish(
        infrastructure,
        SeatReserved(
            registration_id=registration_id,
            event_id=event["id"],
            promoted=True,
            reserved_at=T0 + timedelta(minutes=1),
        ),
        SeatWaitlisted(
            registration_id=registration_id, event_id=event["id"], position=1, waitlisted_at=T0
        ),
        link(receipt, event["id"]),
    )
    view = await wait_until(client, receipt, stream_link_provisioned=True)
    assert view["status"] == "seat_reserved"


async def test_a_remote_registrant_is_remote_once_their_stream_link_is_issued(
    infrastructure: IsolatedInfrastructure, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    receipt = await register(client, event["id"], attendance="remote")
    assert (await status_of(client, receipt))["status"] == "accepted"
    await publish(infrastructure, link(receipt, event["id"], path="remote-1"))
    view = await wait_until(client, receipt, status="remote")
    assert view["stream_link_provisioned"] is True
    assert view["waitlist_position"] is None


async def test_nothing_changes_a_cancelled_registration(
    infrastructure: IsolatedInfrastructure, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    receipt = await register(client, event["id"], attendance="in_person")
    registration_id = uuid.UUID(receipt["id"])
    await publish(
        infrastructure,
        SeatReserved(registration_id=registration_id, event_id=event["id"], reserved_at=T0),
        link(receipt, event["id"]),
    )
    await wait_until(client, receipt, status="seat_reserved", stream_link_provisioned=True)

    response = await client.delete(
        f"/api/v1/registrations/{receipt['id']}", headers=bearer(receipt["manage_token"])
    )
    assert response.json()["status"] == "cancelled"
    # What capacity and streaming answer to the cancellation, a stale report,
    # then a report about another registration to show the queue moved on.
    other = await register(client, event["id"], attendance="remote")
    await publish(
        infrastructure,
        SeatReleased(
            registration_id=registration_id, event_id=event["id"], released_at=T0 + timedelta(1)
        ),
        StreamLinkRevoked(
            registration_id=registration_id, event_id=event["id"], revoked_at=T0 + timedelta(1)
        ),
        SeatWaitlisted(
            registration_id=registration_id, event_id=event["id"], position=4, waitlisted_at=T0
        ),
        WaitlistLeft(registration_id=registration_id, event_id=event["id"], left_at=T0),
        link(other, event["id"], path="other"),
    )
    await wait_until(client, other, status="remote")
    view = await status_of(client, receipt)
    assert view["status"] == "cancelled"
    assert view["waitlist_position"] is None


async def test_reports_about_unknown_registrations_do_not_block_the_queue(
    infrastructure: IsolatedInfrastructure, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    receipt = await register(client, event["id"], attendance="remote")
    await publish(
        infrastructure,
        SeatReserved(registration_id=uuid.uuid4(), event_id=event["id"], reserved_at=T0),
        StreamLinkProvisioned(
            registration_id=uuid.UUID(receipt["id"]),
            event_id="some-other-event",
            url="https://stream.example.fi/watch/wrong",
            valid_from=T0,
            valid_until=T0 + timedelta(hours=1),
        ),
        link(receipt, event["id"]),
    )
    view = await wait_until(client, receipt, status="remote")
    assert view["stream_link_url"] == "https://stream.example.fi/watch/abc"
