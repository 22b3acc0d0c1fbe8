"""What the console asks the other services: seats, mails, stream links, and a resend.

The console never reads another service's database: it calls their
operations listeners (``ILMO_CAPACITY_OPERATIONS_URL``, …) over HTTP with a
client-credentials token of its own client at the identity provider
(``ServiceToken``: fetched from the issuer's token endpoint, kept until
shortly before it expires). Each service answers as a
``Kind.SERVICE`` principal's request; what a person may see was decided by
the console's own permission check before it asks.

A service that does not answer (down, slow, refusing) costs the page its
figures and nothing else: ``EventFigures.missing`` names the services whose
figures are missing, and the page says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import httpx

from ilmo_registration.settings import RegistrationSettings

_T = TypeVar("_T")
TIMEOUT = httpx.Timeout(3.0)
# A token is renewed this long before its ``expires_in`` runs out.
_RENEW_BEFORE = 30.0
CAPACITY, NOTIFICATION, STREAMING = "capacity", "notification", "streaming"


class Unavailable(Exception):  # noqa: N818 (an answer, not a bug)
    """A service did not answer usefully."""


class ServiceToken:
    """The console client's client-credentials token, cached until shortly before expiry."""

    def __init__(
        self,
        issuer: str | None,
        client_id: str | None,
        client_secret: str | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._issuer = issuer.rstrip("/") if issuer else None
        self._client = (client_id, client_secret) if client_id and client_secret else None
        self._clock = clock
        self._token: str | None = None
        self._until = 0.0
        self._lock = asyncio.Lock()

    async def value(self, http: httpx.AsyncClient) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._until:
                self._token, lifetime = await self._fetch(http)
                self._until = self._clock() + max(0.0, lifetime - _RENEW_BEFORE)
            return self._token

    async def _fetch(self, http: httpx.AsyncClient) -> tuple[str, float]:
        if self._issuer is None or self._client is None:
            raise Unavailable("no identity provider or console client configured")
        discovery = await http.get(f"{self._issuer}/.well-known/openid-configuration")
        discovery.raise_for_status()
        answer = await http.post(
            str(discovery.json()["token_endpoint"]),
            data={"grant_type": "client_credentials", "audience": "ilmo"},
            auth=self._client,
        )
        answer.raise_for_status()
        body = answer.json()
        return str(body["access_token"]), float(body.get("expires_in", 300))


@dataclass(frozen=True)
class SeatFigures:
    capacity: int
    reserved: int
    waitlisted: int
    # Reserved beyond the capacity after it was lowered (nobody loses a seat).
    over_capacity: int = 0
    # After the promotion cutoff a freed seat stays free (capacity's own view).
    promotion_closes_at: datetime | None = None
    promotion_closed: bool = False

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.reserved)


@dataclass(frozen=True)
class MessageProgress:
    """How notification is getting on with one organiser's message: counts, never people."""

    state: str  # waiting | sending | done
    recipients: int
    sent: int
    failed: int
    pending: int
    # Not sent: the registrant cancelled before their copy went out.
    skipped: int = 0


@dataclass(frozen=True)
class ScheduleItem:
    """One mail notification means to send to the event's registrants (a reminder, say)."""

    key: str
    kind: str
    due_at: datetime | None
    state: str  # scheduled | done | missed | dropped
    audience: str | None
    recipients: int | None
    sent: int | None
    failed: int | None


@dataclass(frozen=True)
class MailFigures:
    """Mails of the event by state (every kind together), and by kind and state."""

    by_kind: Mapping[str, Mapping[str, int]]

    def state(self, name: str) -> int:
        return sum(states.get(name, 0) for states in self.by_kind.values())


@dataclass(frozen=True)
class StreamFigures:
    provisioned: int
    revoked: int
    pending: int
    # Attempts to open a link that got the stream, since streaming started.
    joins: int


@dataclass(frozen=True)
class EventFigures:
    seats: SeatFigures | None = None
    mails: MailFigures | None = None
    stream: StreamFigures | None = None
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class MailRecord:
    """One mail of a registration, as notification tells it: never an address or a text."""

    id: str
    kind: str
    state: str
    attempts: int
    created_at: datetime | None
    sent_at: datetime | None
    # The mail this one sent again, if it was sent again on request.
    resent_from: str | None = None


@dataclass(frozen=True)
class OtherServices:
    """The console's calls to capacity, notification and streaming."""

    token: ServiceToken
    capacity_url: str
    notification_url: str
    streaming_url: str
    transport: httpx.AsyncBaseTransport | None = field(default=None, compare=False)

    @classmethod
    def from_settings(cls, settings: RegistrationSettings) -> OtherServices:
        secret = settings.oidc_client_secret
        return cls(
            ServiceToken(
                str(settings.oidc_issuer) if settings.oidc_issuer else None,
                settings.oidc_client_id,
                secret.get_secret_value() if secret else None,
            ),
            str(settings.capacity_operations_url).rstrip("/"),
            str(settings.notification_operations_url).rstrip("/"),
            str(settings.streaming_operations_url).rstrip("/"),
        )

    async def figures(self, event_id: str) -> EventFigures:
        """The event's seats, mails and stream links; what could not be had is ``missing``."""
        async with self._http() as http:
            seats, mails, stream = await asyncio.gather(
                _or_none(self._seats(http, event_id)),
                _or_none(self._mails(http, event_id)),
                _or_none(self._stream(http, event_id)),
            )
        missing = tuple(
            name
            for name, value in ((CAPACITY, seats), (NOTIFICATION, mails), (STREAMING, stream))
            if value is None
        )
        return EventFigures(seats, mails, stream, missing)

    async def seats(self, event_id: str) -> SeatFigures:
        """The event's seat counts from capacity (``Unavailable`` if it did not answer)."""
        async with self._http() as http:
            try:
                return await self._seats(http, event_id)
            except (KeyError, TypeError, ValueError) as error:
                raise Unavailable(f"capacity's answer did not read: {error}") from error

    async def mails_of(self, registration_id: str, attendance_version: int) -> list[MailRecord]:
        """The registration's mails, oldest first; ``Unavailable`` if notification did not say."""
        async with self._http() as http:
            body = await self._get(
                http,
                f"{self.notification_url}/api/v1/registrations/{registration_id}/mails",
                {"attendance_version": str(attendance_version)},
            )
        return [
            MailRecord(
                id=str(mail["id"]),
                kind=str(mail["kind"]),
                state=str(mail["state"]),
                attempts=int(mail["attempts"]),
                created_at=_time(mail.get("created_at")),
                sent_at=_time(mail.get("sent_at")),
                resent_from=mail.get("resent_from"),
            )
            for mail in body["mails"]
        ]

    async def resend(self, registration_id: str, mail_id: str, request_id: str) -> None:
        """Ask notification to send ``mail_id`` again, once per ``request_id``.

        A call to notification's API rather than an internal event
        (``registration.mail_resend_requested``): the organiser is told at
        once whether it worked (no such mail, notification down) instead of
        a resend that may silently never happen, and nothing about one
        organiser's click needs to outlive the request. ``request_id`` comes
        from the confirmation page, so the same form sent twice is one mail
        (notification keys the new mail by it).
        """
        async with self._http() as http:
            token = await self.token.value(http)
            answer = await http.post(
                f"{self.notification_url}/api/v1/registrations/{registration_id}/mails/resend",
                json={"mail_id": mail_id, "request_id": request_id},
                headers={"Authorization": f"Bearer {token}"},
            )
        if answer.status_code >= 300:
            raise Unavailable(f"notification answered {answer.status_code}")

    async def audience_size(self, event_id: str, audience: str) -> int:
        """How many registrants a message to ``audience`` would reach now (``Unavailable``)."""
        async with self._http() as http:
            body = await self._get(
                http,
                f"{self.notification_url}/api/v1/events/{event_id}/audience",
                {"audience": audience},
            )
        return _count(body["recipients"])

    async def message_progress(self, message_id: str) -> MessageProgress | None:
        """The message's delivery so far; None while notification has not heard of it."""
        async with self._http() as http:
            try:
                token = await self.token.value(http)
                answer = await http.get(
                    f"{self.notification_url}/api/v1/messages/{message_id}",
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.HTTPError as error:
                raise Unavailable(str(error)) from error
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise Unavailable(f"notification answered {answer.status_code}")
        body = answer.json()
        try:
            return MessageProgress(
                state=str(body["state"]),
                recipients=_count(body["recipients"]),
                sent=_count(body["sent"]),
                failed=_count(body["failed"]),
                pending=_count(body["pending"]),
                skipped=_count(body.get("skipped", 0)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise Unavailable(f"notification's answer did not read: {error}") from error

    async def schedule(self, event_id: str) -> list[ScheduleItem]:
        """The mails notification has scheduled for the event, soonest first (``Unavailable``)."""
        async with self._http() as http:
            body = await self._get(
                http, f"{self.notification_url}/api/v1/events/{event_id}/schedule"
            )
        try:
            items = [_schedule_item(item) for item in body["items"]]
        except (KeyError, TypeError, ValueError) as error:
            raise Unavailable(f"notification's schedule did not read: {error}") from error
        return sorted(items, key=lambda item: (item.due_at is None, item.due_at or 0, item.key))

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=TIMEOUT, transport=self.transport)

    async def _get(
        self, http: httpx.AsyncClient, url: str, params: Mapping[str, str] | None = None
    ) -> Any:
        try:
            token = await self.token.value(http)
            answer = await http.get(
                url, params=params, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as error:
            raise Unavailable(str(error)) from error
        if answer.status_code != 200:
            raise Unavailable(f"{url} answered {answer.status_code}")
        return answer.json()

    async def _seats(self, http: httpx.AsyncClient, event_id: str) -> SeatFigures:
        body = await self._get(http, f"{self.capacity_url}/api/v1/events/{event_id}/seats")
        # The cutoff's fields came later: an older capacity's answer lacks them.
        return SeatFigures(
            int(body["capacity"]),
            int(body["reserved"]),
            int(body["waitlisted"]),
            over_capacity=int(body.get("over_capacity") or 0),
            promotion_closes_at=_time(body.get("promotion_closes_at")),
            promotion_closed=bool(body.get("promotion_closed", False)),
        )

    async def _mails(self, http: httpx.AsyncClient, event_id: str) -> MailFigures:
        body = await self._get(
            http, f"{self.notification_url}/api/v1/mails/summary", {"event_id": event_id}
        )
        return MailFigures(body["kinds"])

    async def _stream(self, http: httpx.AsyncClient, event_id: str) -> StreamFigures:
        body = await self._get(http, f"{self.streaming_url}/api/v1/events/{event_id}/stream-links")
        return StreamFigures(
            int(body["provisioned"]),
            int(body["revoked"]),
            int(body["pending"]),
            int(body.get("joins", 0)),
        )


async def _or_none(call: Awaitable[_T]) -> _T | None:
    try:
        return await call
    except (Unavailable, httpx.HTTPError, KeyError, TypeError, ValueError):
        return None


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not a count: {value!r}")
    return value


def _optional_count(value: object) -> int | None:
    return None if value is None else _count(value)


def _schedule_item(item: Mapping[str, Any]) -> ScheduleItem:
    return ScheduleItem(
        key=str(item["key"]),
        kind=str(item["kind"]),
        due_at=_time(item.get("due_at")),
        state=str(item["state"]),
        audience=str(item["audience"]) if item.get("audience") is not None else None,
        recipients=_optional_count(item.get("recipients")),
        sent=_optional_count(item.get("sent")),
        failed=_optional_count(item.get("failed")),
    )


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None
