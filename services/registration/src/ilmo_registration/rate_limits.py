"""Rate limits, shared by all replicas: on registration (per client address and per
event) and on requests for one's manage link (per client address and per email address).

The counters live in Redis (``limits``' moving window), so two replicas count
together. They are checked before any database work, and what goes over is
answered ``429`` problem details with ``Retry-After``. Redis being away must
not take registration down: the check then lets the request through (fail
open), counts ``ilmo_rate_limit_unavailable_total``, logs a warning, and asks
Redis again only after ``RETRY_REDIS_AFTER`` seconds (so at most one warning
and one slow attempt per 5 s of outage).

Client addresses are personal data: they are never logged nor used as metric
labels, and Redis holds them only in keys that expire with their window. An
email address is never in Redis at all: its requests count under a keyed hash
of the normalised address (``address_key``), whose key is derived from
``ILMO_MANAGE_LINK_SECRET``, so that nobody with Redis can hash a list of
addresses to learn which asked. The per-address limit counts whether or not
the address is registered, so a 429 tells nothing about who registered.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from prometheus_client import Counter
from pydantic import SecretStr
from starlette.requests import Request

from ilmo_registration import CATALOGUE
from ilmo_registration.domain import normalise_email
from ilmo_registration.settings import RegistrationSettings
from ilmo_shared.http.problems import Problem
from ilmo_shared.i18n import _
from ilmo_shared.tls import client_context

log = structlog.get_logger(__name__)

RATE_LIMITED = Counter(
    "ilmo_rate_limited_total",
    "Requests refused with 429, by the limit that refused them (client, event: "
    "registrations; manage_link_client, manage_link_address: requests for a manage link).",
    ["limit"],
)
RATE_LIMIT_UNAVAILABLE = Counter(
    "ilmo_rate_limit_unavailable_total",
    "Registrations and requests for a manage link let through unchecked because Redis did "
    "not answer.",
)
# Seconds to skip Redis after it failed, so an outage costs each request nothing.
RETRY_REDIS_AFTER = 5.0
# Seconds a Redis command may take before the check gives up (fails open).
REDIS_TIMEOUT = 0.5
UNKNOWN_CLIENT = "unknown"
# The context of the key under which email addresses are hashed: its own, so
# that the hash of an address is never a link token or a form token.
_ADDRESS_KEY_CONTEXT = b"ilmo rate limit address v1"


def client_address(
    peer: str | None, forwarded: Sequence[str], *, trusted_header: bool, hops: int = 1
) -> str:
    """The address a request is counted under.

    Without a trusted proxy header, that is the TCP peer: whatever headers the
    client sends are ignored (they are its own words). With one, every request
    comes through ``hops`` proxies, each appending the address it saw to the
    header (``X-Forwarded-For: client, proxy1``). Entries on the left were
    written by the client and can be forged; the ``hops``-th entry from the
    right was written by our outermost proxy and is the address it saw. If the
    header has fewer entries or that one is not an address, the TCP peer is
    used. IPv6 addresses count by their /64, which one client usually holds.
    """
    chosen = peer
    if trusted_header:
        entries = [entry.strip() for value in forwarded for entry in value.split(",")]
        entries = [entry for entry in entries if entry]
        if len(entries) >= hops:
            chosen = entries[-hops]
    return _normalised(chosen) or _normalised(peer) or UNKNOWN_CLIENT


def _normalised(address: str | None) -> str | None:
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def redis_tls_options(settings: RegistrationSettings) -> dict[str, Any]:
    """The TLS context for a rediss:// URL, verifying certificate and host name.

    coredis's own context for rediss:// checks neither the host name nor,
    without a CA, that the server has a certificate at all; ours does both.
    """
    if settings.redis_url is None or not settings.redis_url.startswith("rediss://"):
        return {}
    return {"ssl_context": client_context(settings.redis_ca_file)}


def retry_after(reset_time: float, now: float) -> int:
    """Whole seconds until the window frees a slot, at least 1."""
    return max(1, math.ceil(reset_time - now))


def address_key(key: bytes, email: str) -> str:
    """What the per-address limit counts an email address under: a keyed hash of it.

    Normalised first, as registration compares addresses, so that
    ``Maija@Example.fi`` and ``maija@example.fi`` count together.
    """
    return hmac.new(key, normalise_email(email).encode(), hashlib.sha256).hexdigest()


def address_hash_key(secret: SecretStr | None) -> bytes:
    """The key of ``address_key``, derived from the manage link secret for this alone.

    Every replica derives the same, so they count an address together. A
    service is never started without the secret; tools and tests that build
    one without it get a random key, which only keeps their counts apart.
    """
    if secret is None:
        return secrets.token_bytes(32)
    return hmac.new(
        secret.get_secret_value().encode(), _ADDRESS_KEY_CONTEXT, hashlib.sha256
    ).digest()


@dataclass(frozen=True)
class _Limit:
    name: str
    item: RateLimitItem


class RateLimits:
    """The limits on registrations and on requests for a manage link; none without Redis."""

    def __init__(
        self, settings: RegistrationSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._header = settings.trusted_proxy_header
        self._hops = settings.trusted_proxy_hops
        self._clock = clock
        self._skip_until = 0.0
        self._limiter: MovingWindowRateLimiter | None = None
        self._client = _Limit("client", parse(settings.rate_limit_per_client))
        self._event = _Limit("event", parse(settings.rate_limit_per_event))
        self._link_client = _Limit(
            "manage_link_client", parse(settings.rate_limit_manage_link_per_client)
        )
        self._link_address = _Limit(
            "manage_link_address", parse(settings.rate_limit_manage_link_per_address)
        )
        self._address_key = address_hash_key(settings.manage_link_secret)
        if settings.redis_url is not None:
            storage = RedisStorage(
                "async+" + settings.redis_url,
                wrap_exceptions=True,
                key_prefix=settings.redis_key_prefix,
                connect_timeout=REDIS_TIMEOUT,
                stream_timeout=REDIS_TIMEOUT,
                **redis_tls_options(settings),
            )
            self._limiter = MovingWindowRateLimiter(storage)

    @property
    def enabled(self) -> bool:
        return self._limiter is not None

    def warn_if_off(self) -> None:
        if self._limiter is None:
            log.warning(
                "rate_limits_off",
                reason="ILMO_REDIS_URL is not set; registrations are not rate limited",
            )

    def client_of(self, request: Request) -> str:
        peer = request.client.host if request.client is not None else None
        forwarded = request.headers.getlist(self._header) if self._header else []
        return client_address(
            peer, forwarded, trusted_header=self._header is not None, hops=self._hops
        )

    async def check_registration(self, request: Request, event_id: str) -> None:
        """Count one registration; raise a 429 ``Problem`` if a limit is reached."""
        checks = ((self._client, self.client_of(request)), (self._event, event_id))
        await self._count("registration", checks, TOO_MANY_REGISTRATIONS)

    async def check_manage_link_request(self, request: Request, email: str) -> None:
        """Count one request for a manage link; a 429 ``Problem`` if a limit is reached.

        Counted for the address whether or not it is registered: the limit
        must answer alike for both.
        """
        checks = (
            (self._link_client, self.client_of(request)),
            (self._link_address, address_key(self._address_key, email)),
        )
        await self._count("manage-link", checks, TOO_MANY_LINK_REQUESTS)

    async def _count(
        self, namespace: str, checks: Sequence[tuple[_Limit, str]], detail: str
    ) -> None:
        """One hit on each limit in turn; the first one over raises 429 with ``detail``."""
        limiter = self._limiter
        if limiter is None or self._clock() < self._skip_until:
            if limiter is not None:
                RATE_LIMIT_UNAVAILABLE.inc()
            return
        try:
            for limit, key in checks:
                if not await limiter.hit(limit.item, namespace, limit.name, key):
                    stats = await limiter.get_window_stats(limit.item, namespace, limit.name, key)
                    RATE_LIMITED.labels(limit=limit.name).inc()
                    seconds = retry_after(stats.reset_time, self._clock())
                    raise too_many_requests(seconds, detail)
        except Problem:
            raise
        except Exception as error:  # any failure of Redis: fail open
            RATE_LIMIT_UNAVAILABLE.inc()
            self._skip_until = self._clock() + RETRY_REDIS_AFTER
            log.warning("rate_limits_unavailable", error=type(error).__name__)


TOO_MANY_REGISTRATIONS = _("Too many registrations; try again in %(seconds)s s.")
TOO_MANY_LINK_REQUESTS = _("Too many requests for a link; try again in %(seconds)s s.")


def too_many_requests(seconds: int, detail: str = TOO_MANY_REGISTRATIONS) -> Problem:
    return Problem(
        429,
        "too-many-requests",
        _("Too many requests"),
        detail,
        headers={"Retry-After": str(seconds)},
        values={"seconds": seconds},
        catalogue=CATALOGUE,
    )
