"""The console's side of OpenID Connect: the provider's endpoints, and the code exchange.

The console is a confidential client (``ILMO_OIDC_CLIENT_ID`` and its
secret, sent as HTTP Basic: ``client_secret_basic``) using the authorization
code flow with PKCE (S256). The provider's endpoints come from its discovery
document (``<issuer>/.well-known/openid-configuration``), read once and
kept. Tokens are verified elsewhere (``ilmo_shared.identity.TokenVerifier``);
this module only moves them. No cryptography is written here: the random
values and the code challenge are Authlib's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

TIMEOUT_SECONDS = 10.0


class ProviderUnavailable(Exception):  # noqa: N818 (a condition, as the page says it)
    """The provider did not answer, or not as OpenID Connect says; never its body (it may echo)."""


@dataclass(frozen=True)
class Endpoints:
    """What the console needs of the provider's discovery document."""

    issuer: str
    authorization: str
    token: str
    end_session: str | None


@dataclass(frozen=True)
class Attempt:
    """One sign-in's secrets, kept server-side until the provider answers."""

    state: str
    nonce: str
    verifier: str

    @classmethod
    def new(cls) -> Attempt:
        return cls(state=generate_token(43), nonce=generate_token(43), verifier=generate_token(64))


@dataclass(frozen=True)
class TokenSet:
    """What the token endpoint answered for a code."""

    access_token: str
    id_token: str


class Provider:
    """The console's client at the OpenID Connect provider."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        *,
        audience: str,
        scope: str = "openid profile",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self._secret = client_secret
        self.audience = audience
        self.scope = scope
        self._transport = transport
        self._endpoints: Endpoints | None = None

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self._transport, timeout=TIMEOUT_SECONDS)

    async def endpoints(self) -> Endpoints:
        """The provider's endpoints, from its discovery document (read once)."""
        if self._endpoints is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = await self._json("GET", url)
            try:
                self._endpoints = Endpoints(
                    issuer=str(document["issuer"]),
                    authorization=str(document["authorization_endpoint"]),
                    token=str(document["token_endpoint"]),
                    end_session=_optional(document.get("end_session_endpoint")),
                )
            except KeyError as missing:
                raise ProviderUnavailable(f"discovery document lacks {missing}") from None
        return self._endpoints

    async def authorization_url(self, attempt: Attempt, redirect_uri: str) -> str:
        """Where to send the browser to sign in (with the ``audience`` the access token needs)."""
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.scope,
            "state": attempt.state,
            "nonce": attempt.nonce,
            "code_challenge": create_s256_code_challenge(attempt.verifier),
            "code_challenge_method": "S256",
            "audience": self.audience,
        }
        return f"{(await self.endpoints()).authorization}?{urlencode(query)}"

    async def exchange(self, code: str, attempt: Attempt, redirect_uri: str) -> TokenSet:
        """The tokens for ``code`` (client_secret_basic, with the PKCE verifier)."""
        answer = await self._json(
            "POST",
            (await self.endpoints()).token,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": attempt.verifier,
            },
            auth=(self.client_id, self._secret),
        )
        access, identity = answer.get("access_token"), answer.get("id_token")
        if not isinstance(access, str) or not isinstance(identity, str):
            raise ProviderUnavailable("token response without an access token and an ID token")
        return TokenSet(access, identity)

    async def logout_url(self, id_token: str | None, post_logout_redirect_uri: str) -> str | None:
        """The provider's logout (RP-initiated logout 1.0), or None if it has none."""
        endpoint = (await self.endpoints()).end_session
        if endpoint is None:
            return None
        query = {"client_id": self.client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
        if id_token is not None:
            query["id_token_hint"] = id_token
        return f"{endpoint}?{urlencode(query)}"

    async def _json(self, method: str, url: str, **options: Any) -> dict[str, Any]:
        try:
            async with self._client() as client:
                response = await client.request(method, url, **options)
        except httpx.HTTPError as error:
            raise ProviderUnavailable(type(error).__name__) from None
        if response.status_code != 200:
            raise ProviderUnavailable(f"{method} {url}: HTTP {response.status_code}")
        try:
            document = response.json()
        except ValueError:
            raise ProviderUnavailable(f"{method} {url}: not JSON") from None
        if not isinstance(document, dict):
            raise ProviderUnavailable(f"{method} {url}: not a JSON object")
        return document


def _optional(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
