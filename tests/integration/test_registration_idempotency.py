"""Registering with an Idempotency-Key, against the real database and broker.

A retry gets the first answer again, token included, whether the first
attempt was answered, is still running elsewhere, or died half-way.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from ilmo_registration.idempotency import LEASE, KeyedRequest
from ilmo_registration.schemas import RegistrationRequest
from ilmo_registration.storage.idempotency import IDEMPOTENCY_COLLECTION, IdempotencyStore
from ilmo_shared.storage import Document
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.problems import assert_problem
from tests.support.registration import (
    ADMIN,
    MANAGE_LINK_SECRET,
    MovableClock,
    bearer,
    registration_payload,
)


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def claims_of(
    mongo: AsyncMongoClient[Document], infrastructure: IsolatedInfrastructure
) -> AsyncCollection[Document]:
    return mongo[infrastructure.database_name("registration")][IDEMPOTENCY_COLLECTION]


def keyed_request(event_id: str, key: str, payload: dict[str, Any]) -> KeyedRequest:
    """The request as the service derives it: from the body as it reads it."""
    body = RegistrationRequest.model_validate(payload).model_dump(mode="json")
    return KeyedRequest.of(MANAGE_LINK_SECRET.encode(), event_id, key, body)


def claim_id(event_id: str, key: str, payload: dict[str, Any]) -> str:
    return keyed_request(event_id, key, payload).claim_id


async def post(
    client: httpx.AsyncClient, event: dict[str, Any], payload: dict[str, Any], key: str
) -> httpx.Response:
    return await client.post(
        f"/api/v1/events/{event['id']}/registrations", json=payload, headers=keyed(key)
    )


async def test_a_retry_with_the_same_key_and_body_gets_the_same_id_and_token(
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
) -> None:
    payload, key = registration_payload(), str(uuid.uuid4())
    first = await post(client, event, payload, key)
    again = await post(client, event, dict(reversed(payload.items())), key)

    assert first.status_code == again.status_code == 202, again.text
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    receipt = first.json()
    assert await registrations.count_documents({"email_key": payload["email"]}) == 1
    shown = await client.get(
        f"/api/v1/registrations/{receipt['id']}", headers=bearer(receipt["manage_token"])
    )
    assert shown.status_code == 200
    stored = await registrations.find_one({"_id": receipt["id"]})
    assert stored is not None
    assert stored.get("repeat_notified_at") is None  # the retry told nobody of a repeat


async def test_the_key_with_another_body_is_refused_and_stores_nothing(
    client: httpx.AsyncClient,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
) -> None:
    key = str(uuid.uuid4())
    assert (await post(client, event, registration_payload(), key)).status_code == 202
    other = registration_payload()
    refused = await post(client, event, other, key)

    assert_problem(refused, 422, "/problems/idempotency-key-reused")
    assert await registrations.count_documents({"email_key": other["email"]}) == 0


async def test_a_key_that_is_too_short_is_a_validation_problem(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    refused = await post(client, event, registration_payload(), "short")
    assert_problem(refused, 422, "/problems/validation")


async def test_a_key_still_held_answers_409_until_its_lease_ends_then_is_taken_over(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
) -> None:
    """Another replica claimed the key and died before registering: the id it fixed is kept."""
    payload, key = registration_payload(), str(uuid.uuid4())
    request = keyed_request(event["id"], key, payload)
    held_id, held_token = str(uuid.uuid4()), "token-fixed-by-the-first-attempt"
    claimed_at = clock.now.replace(microsecond=clock.now.microsecond // 1000 * 1000)
    await claims_of(mongo, infrastructure).insert_one(
        {
            "_id": request.claim_id,
            "event_id": event["id"],
            "fingerprint": request.fingerprint,
            "registration_id": held_id,
            "sealed_token": request.seal(held_token, held_id),
            "state": "processing",
            "claimed_at": claimed_at,
            "expires_at": claimed_at + timedelta(hours=24),
            "status": None,
        }
    )

    busy = await post(client, event, payload, key)
    assert_problem(busy, 409, "/problems/request-in-progress")
    assert 1 <= int(busy.headers["Retry-After"]) <= LEASE.total_seconds()
    assert await registrations.count_documents({"_id": held_id}) == 0

    clock.now += LEASE + timedelta(seconds=1)
    taken = await post(client, event, payload, key)
    assert taken.status_code == 202, taken.text
    assert taken.json()["id"] == held_id
    assert taken.json()["manage_token"] == held_token
    shown = await client.get(f"/api/v1/registrations/{held_id}", headers=bearer(held_token))
    assert shown.status_code == 200
    claim = await claims_of(mongo, infrastructure).find_one({"_id": request.claim_id})
    assert claim is not None
    assert claim["state"] == "done"


async def test_an_attempt_that_stored_and_died_before_answering_is_answered_by_the_retry(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
    registrations: AsyncCollection[Document],
    event: dict[str, Any],
) -> None:
    payload, key = registration_payload(), str(uuid.uuid4())
    first = (await post(client, event, payload, key)).json()
    # As if the process had died between storing the registration and the answer.
    await claims_of(mongo, infrastructure).update_one(
        {"_id": claim_id(event["id"], key, payload)},
        {"$set": {"state": "processing", "status": None}},
    )
    clock.now += LEASE + timedelta(seconds=1)

    retried = await post(client, event, payload, key)
    assert retried.status_code == 202, retried.text
    assert retried.json() == first
    assert await registrations.count_documents({"email_key": payload["email"]}) == 1
    stored = await registrations.find_one({"_id": first["id"]})
    assert stored is not None
    assert stored.get("repeat_notified_at") is None


async def test_a_refused_request_leaves_the_key_free(
    client: httpx.AsyncClient,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
    event: dict[str, Any],
) -> None:
    payload = registration_payload(privacy_notice_version="0123456789abcdef")
    key = str(uuid.uuid4())
    refused = await post(client, event, payload, key)
    assert_problem(refused, 409, "/problems/privacy-notice-changed")
    claims = claims_of(mongo, infrastructure)
    assert await claims.count_documents({"_id": claim_id(event["id"], key, payload)}) == 0


async def test_without_a_key_a_repeat_answers_202_and_reveals_nothing(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    payload = registration_payload()
    url = f"/api/v1/events/{event['id']}/registrations"
    first = await client.post(url, json=payload)
    repeated = await client.post(url, json=payload)
    assert first.status_code == repeated.status_code == 202
    assert repeated.json()["id"] != first.json()["id"]
    assert repeated.json()["manage_token"] != first.json()["manage_token"]


async def test_an_expired_key_is_free_again_and_its_claim_is_swept(
    client: httpx.AsyncClient,
    clock: MovableClock,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
    event: dict[str, Any],
) -> None:
    key = str(uuid.uuid4())
    assert (await post(client, event, registration_payload(), key)).status_code == 202
    clock.now += timedelta(hours=24, seconds=1)

    other = await post(client, event, registration_payload(), key)
    assert other.status_code == 202, other.text  # a new request under an expired key
    claims = claims_of(mongo, infrastructure)
    assert await claims.count_documents({"event_id": event["id"]}) == 1
    store = IdempotencyStore(mongo[infrastructure.database_name("registration")])
    assert await store.remove_expired(clock.now + timedelta(hours=24, seconds=1)) >= 1
    assert await claims.count_documents({"event_id": event["id"]}) == 0


async def test_erasing_a_registration_removes_its_claim_and_sealed_token(
    client: httpx.AsyncClient,
    mongo: AsyncMongoClient[Document],
    infrastructure: IsolatedInfrastructure,
    event: dict[str, Any],
) -> None:
    payload, key = registration_payload(), str(uuid.uuid4())
    receipt = (await post(client, event, payload, key)).json()
    claims = claims_of(mongo, infrastructure)
    assert await claims.count_documents({"registration_id": receipt["id"]}) == 1

    erased = await client.delete(f"/api/v1/admin/registrations/{receipt['id']}", headers=ADMIN)
    assert erased.status_code == 202, erased.text
    assert await claims.count_documents({"registration_id": receipt["id"]}) == 0
