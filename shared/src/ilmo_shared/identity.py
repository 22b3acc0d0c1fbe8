"""Who is calling: bearer tokens turned into a ``Principal``, and the one check of a permission.

``TokenVerifier`` accepts the access tokens of one OpenID Connect provider
(``ILMO_OIDC_ISSUER``): JWTs signed with an asymmetric algorithm by a key of
the provider's JWKS, issued by it, for Ilmo (``aud`` contains
``ILMO_OIDC_AUDIENCE``), not expired. The keys come from the discovery
document's ``jwks_uri`` and are cached; a token signed with a key the cache
does not know makes the verifier ask again, at most every 30 s (a provider
rotates keys seldom, and a flood of forged ``kid`` values must not become a
flood of requests to it). While the provider is away, tokens whose key is
cached still verify; others are refused (401), with a warning in the log
that says why but never a token's content.

``Authorization`` is the FastAPI dependency every protected route states
with the one ``Permission`` it needs: 401 problem details with
``WWW-Authenticate: Bearer`` when no valid token is presented, 403 when the
caller's roles do not permit it. docs/security.md, "Identity and roles",
describes the rules; ``ilmo_shared.access`` holds the roles.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import structlog
from fastapi import Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ilmo_shared.access import (
    DEVELOPMENT_ROLES,
    ROLE_PERMISSIONS,
    SERVICE_PERMISSIONS,
    Kind,
    Permission,
    Principal,
    roles_in,
)
from ilmo_shared.http.problems import Problem
from ilmo_shared.i18n import _
from ilmo_shared.settings import ServiceSettings

log = structlog.get_logger(__name__)

# Asymmetric signatures only: ``none`` is no signature, and an HMAC "signed"
# with the provider's public key is a classic forgery.
ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
# Clock skew tolerated for ``nbf`` and ``iat`` (a token from a provider whose
# clock runs ahead). ``exp`` gets none: an expired token is expired.
LEEWAY_SECONDS = 30
# Asking the provider again for its keys, on a token with an unknown ``kid``;
# sooner while none could be fetched yet (no token can verify until then).
REFETCH_INTERVAL_SECONDS = 30.0
COLD_RETRY_SECONDS = 5.0
FETCH_TIMEOUT_SECONDS = 5.0
REALM = "ilmo"
DEVELOPMENT_SUBJECT = "development"


class InvalidToken(Exception):  # noqa: N818 (what it is, as the interface names it)
    """A token that proves nothing; ``reason`` is for logs and tests, never shown whole."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Keys:
    """What the provider published: its exact issuer name and its signing keys."""

    issuer: str
    keys: KeySet
    kids: frozenset[str]


class ProviderKeys:
    """The provider's issuer and JWKS, fetched on demand and cached."""

    def __init__(
        self,
        issuer: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._configured = issuer
        self._transport = transport
        self._monotonic = monotonic
        self._cached: _Keys | None = None
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def current(self, kid: str | None) -> _Keys:
        """The keys, fetched again first when ``kid`` is unknown and the last fetch is old."""
        cached = self._cached
        if cached is not None and (kid is None or kid in cached.kids):
            return cached
        async with self._lock:
            if self._cached is not cached and self._cached is not None:
                return self._cached  # another request fetched meanwhile
            if self._may_fetch():
                await self._fetch()
        if self._cached is None:
            raise InvalidToken("the identity provider's keys are unavailable")
        return self._cached

    def _may_fetch(self) -> bool:
        if self._fetched_at is None:
            return True
        interval = REFETCH_INTERVAL_SECONDS if self._cached else COLD_RETRY_SECONDS
        return self._monotonic() - self._fetched_at >= interval

    async def _fetch(self) -> None:
        self._fetched_at = self._monotonic()
        discovery = self._configured.rstrip("/") + "/.well-known/openid-configuration"
        try:
            async with httpx.AsyncClient(
                transport=self._transport, timeout=FETCH_TIMEOUT_SECONDS
            ) as client:
                document = await _json(client, discovery)
                issuer, jwks_uri = document.get("issuer"), document.get("jwks_uri")
                if not isinstance(issuer, str) or not isinstance(jwks_uri, str):
                    raise ValueError("discovery document without issuer or jwks_uri")
                if issuer.rstrip("/") != self._configured.rstrip("/"):
                    raise ValueError("discovery document of another issuer")
                jwks = await _json(client, jwks_uri)
                keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        except (httpx.HTTPError, ValueError, JoseError) as error:
            log.warning(
                "identity_provider_unavailable",
                issuer=self._configured,
                error_type=type(error).__qualname__,
                cached_keys=self._cached is not None,
            )
            return
        kids = frozenset(key.kid for key in keys if key.kid is not None)
        self._cached = _Keys(issuer=issuer, keys=keys, kids=kids)
        log.info("identity_provider_keys_fetched", issuer=issuer, keys=len(kids))


async def _json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await client.get(url, headers={"Accept": "application/json"})
    response.raise_for_status()
    document = response.json()
    if not isinstance(document, dict):
        raise ValueError(f"{url} is not a JSON object")
    return document


class TokenVerifier:
    """Turns a bearer token into the ``Principal`` it proves, or raises ``InvalidToken``."""

    def __init__(
        self,
        *,
        issuer: str | None,
        audience: str,
        roles_claim: str = "roles",
        service_clients: Iterable[str] = (),
        development_token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        now: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.roles_claim = roles_claim
        self.service_clients = frozenset(service_clients)
        self._development = development_token.encode() if development_token else None
        self._now = now
        self._keys = (
            ProviderKeys(issuer, transport=transport, monotonic=monotonic) if issuer else None
        )

    @classmethod
    def from_settings(
        cls, settings: ServiceSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> TokenVerifier:
        token = settings.development_token
        return cls(
            issuer=str(settings.oidc_issuer) if settings.oidc_issuer is not None else None,
            audience=settings.oidc_audience,
            roles_claim=settings.oidc_roles_claim,
            service_clients=settings.oidc_service_clients,
            development_token=token.get_secret_value() if token is not None else None,
            transport=transport,
        )

    @property
    def accepts_development_token(self) -> bool:
        return self._development is not None

    def announce(self) -> None:
        """Say at start what this service accepts: worth a line, and a warning for dev tokens."""
        if self._development is not None:
            log.warning("development_token_accepted", note="never in production")
        if self.issuer is None and self._development is None:
            log.warning(
                "admin_api_closed",
                reason="neither ILMO_OIDC_ISSUER nor ILMO_DEVELOPMENT_TOKEN is set",
            )
        elif self.issuer is not None:
            log.info("tokens_accepted", issuer=self.issuer, audience=self.audience)

    async def principal(self, token: str, *, audience: str | None = None) -> Principal:
        """Who ``token`` proves the caller is; ``InvalidToken`` when it proves nothing."""
        if self._is_development(token):
            return Principal(
                subject=DEVELOPMENT_SUBJECT,
                name="Development token",
                kind=Kind.DEVELOPMENT,
                roles=DEVELOPMENT_ROLES,
            )
        claims = await self.claims(token, audience=audience or self.audience)
        return self._principal_of(claims)

    async def claims(self, token: str, *, audience: str) -> dict[str, object]:
        """The verified claims of a JWT from the provider (an access token, or an ID token)."""
        if self._keys is None:
            raise InvalidToken("no identity provider is configured")
        header = _header(token)
        kid = header.get("kid")
        keys = await self._keys.current(kid if isinstance(kid, str) else None)
        if isinstance(kid, str) and kid not in keys.kids:
            raise InvalidToken("signed with an unknown key")
        try:
            verified = jwt.decode(token, keys.keys, algorithms=ALGORITHMS)
        except JoseError as error:
            raise InvalidToken(f"signature: {error}") from None
        claims = dict(verified.claims)
        self._check(claims, issuer=keys.issuer, audience=audience)
        return claims

    def _is_development(self, token: str) -> bool:
        if self._development is None:
            return False
        return hmac.compare_digest(token.encode(), self._development)

    def _check(self, claims: dict[str, Any], *, issuer: str, audience: str) -> None:
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self._now()),
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            sub={"essential": True},
            exp={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as error:
            raise InvalidToken(f"claims: {error}") from None
        if claims["exp"] <= self._now():
            raise InvalidToken("expired")

    def _principal_of(self, claims: Mapping[str, object]) -> Principal:
        subject = str(claims["sub"])
        # A service is known by the subject of its client-credentials tokens,
        # which providers name differently: the client id (RFC 9068, Hydra),
        # the service account's user id (Keycloak), the service principal's
        # object id (Entra ID). No person's subject is ever one of those.
        if subject in self.service_clients:
            return Principal(subject=subject, name=subject, kind=Kind.SERVICE)
        name = next(
            (
                value
                for value in (claims.get("name"), claims.get("preferred_username"))
                if isinstance(value, str) and value
            ),
            subject,
        )
        return Principal(
            subject=subject,
            name=name,
            kind=Kind.PERSON,
            roles=roles_in(claims, self.roles_claim),
        )


def _header(token: str) -> dict[str, object]:
    """The JWS header, unverified: which key and algorithm to check the signature with."""
    if token.count(".") != 2 or len(token) > 16_384:
        raise InvalidToken("malformed")
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeError):
        raise InvalidToken("malformed") from None
    if not isinstance(header, dict):
        raise InvalidToken("malformed")
    if header.get("alg") not in ALGORITHMS:
        raise InvalidToken("algorithm not accepted")
    return header


# ----------------------------------------------------------------- the dependency

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT",
    description="An access token (JWT) from the organisation's identity provider "
    "(`ILMO_OIDC_ISSUER`, audience `ILMO_OIDC_AUDIENCE`) whose roles grant the "
    "permission each operation names; locally also the development token "
    '(`ILMO_DEVELOPMENT_TOKEN`). docs/security.md, "Identity and roles".',
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def unauthenticated(*, token_presented: bool) -> Problem:
    """401: no token, or one that proves nothing (never saying which check failed)."""
    challenge = f'Bearer realm="{REALM}"'
    if token_presented:
        challenge += ', error="invalid_token"'
        detail = _("The bearer token is invalid or has expired.")
    else:
        detail = _("A valid bearer token is required.")
    return Problem(
        401, "unauthorized", _("Unauthorized"), detail, headers={"WWW-Authenticate": challenge}
    )


def forbidden() -> Problem:
    """403: the caller is known, and its roles do not permit this."""
    return Problem(403, "forbidden", _("Forbidden"), _("Your roles do not permit this."))


class Requirement:
    """The dependency of a route that needs one permission; the route's permission is readable."""

    def __init__(self, authorization: Authorization, permission: Permission) -> None:
        self.authorization = authorization
        self.permission = permission

    async def __call__(self, credentials: Credentials) -> Principal:
        principal = await self.authorization.authenticate(credentials)
        if principal is None:
            raise unauthenticated(token_presented=False)
        if not principal.may(self.permission):
            raise forbidden()
        return principal


class OptionalPrincipal:
    """The dependency of a public route that shows more to some callers."""

    def __init__(self, authorization: Authorization) -> None:
        self.authorization = authorization

    async def __call__(self, credentials: Credentials) -> Principal | None:
        return await self.authorization.authenticate(credentials)


class Authorization:
    """The one check of every protected route: a token, then the route's permission."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Authorization:
        return cls(TokenVerifier.from_settings(settings))

    def requires(self, permission: Permission) -> Any:
        """``Depends`` answering the caller's ``Principal``, or 401/403 problem details."""
        return Depends(Requirement(self, permission))

    def optional(self) -> Any:
        """``Depends``: the caller's ``Principal``: None without a token, 401 for a bad one."""
        return Depends(OptionalPrincipal(self))

    async def authenticate(
        self, credentials: HTTPAuthorizationCredentials | None
    ) -> Principal | None:
        if credentials is None:
            return None
        try:
            return await self.verifier.principal(credentials.credentials)
        except InvalidToken as refused:
            log.info("token_refused", reason=refused.reason)
            raise unauthenticated(token_presented=True) from None


@dataclass(frozen=True)
class GuardedRoute:
    """A route as it is served, and what it asks of its caller."""

    method: str
    path: str
    permission: Permission | None  # None: open, or public with more for some (``optional``)
    optional: bool


def guarded_routes(app: FastAPI) -> list[GuardedRoute]:
    """Every API route of ``app`` with the permission its dependencies state.

    The dependencies are the route's own and those its router was included
    with (the operations listener adds ``read-counts`` to each operator
    router), as FastAPI serves them.
    """
    found: list[GuardedRoute] = []
    for context in iter_route_contexts(app.routes):
        dependant: Dependant | None = getattr(context, "dependant", None)
        if dependant is None or context.path is None:
            continue
        permission, optional = _requirement(dependant)
        for method in sorted((context.methods or set()) - {"HEAD"}):
            found.append(GuardedRoute(method, context.path, permission, optional))
    return found


def _requirement(dependant: Dependant) -> tuple[Permission | None, bool]:
    pending = list(dependant.dependencies)
    optional = False
    while pending:
        current = pending.pop()
        if isinstance(current.call, Requirement):
            return current.call.permission, False
        optional = optional or isinstance(current.call, OptionalPrincipal)
        pending.extend(current.dependencies)
    return None, optional


def name_permissions(app: FastAPI) -> None:
    """Name in each protected operation's OpenAPI description its permission and who has it.

    A public operation that shows more to some callers (``Authorization.optional``)
    is documented with an empty security requirement beside the bearer one:
    a client may call it without a token, as FastAPI alone would not say.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        paths = schema.get("paths", {})
        for route in guarded_routes(app):
            operation = paths.get(route.path, {}).get(route.method.lower())
            if operation is None:
                continue
            if route.permission is not None:
                note = _permission_note(route.permission)
                operation["description"] = "\n\n".join(
                    filter(None, (operation.get("description"), note))
                )
            elif route.optional:
                operation["security"] = [{}, *operation.get("security", [])]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _permission_note(permission: Permission) -> str:
    roles = ", ".join(
        f"`{role.value}`" for role, granted in ROLE_PERMISSIONS.items() if permission in granted
    )
    services = " and Ilmo's service clients" if permission in SERVICE_PERMISSIONS else ""
    return f"Requires the permission `{permission.value}` (roles: {roles}{services})."
