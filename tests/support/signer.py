"""An identity provider in-process, for unit tests of token checks only.

It signs JWTs with its own RSA keys and serves its discovery document and
JWKS through an ``httpx.MockTransport``. It proves what the verifier
refuses and accepts; that sign-in works is proved against the real
provider (``tests.support.identity``).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey

ISSUER = "https://id.example.fi/"
AUDIENCE = "ilmo"


class TestProvider:
    """Keys, a discovery document and a JWKS; counts how often each was fetched."""

    __test__ = False

    def __init__(self, issuer: str = ISSUER) -> None:
        self.issuer = issuer
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": "key-1", "use": "sig"})]
        self.fetches = 0
        self.down = False

    def rotate(self, kid: str) -> RSAKey:
        """A new signing key, published beside the old ones."""
        key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig"})
        self.keys.append(key)
        return key

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("provider down", request=request)
        base = self.issuer.rstrip("/")
        if str(request.url) == f"{base}/.well-known/openid-configuration":
            document = {"issuer": self.issuer, "jwks_uri": f"{base}/.well-known/jwks.json"}
            return httpx.Response(200, json=document)
        if str(request.url) == f"{base}/.well-known/jwks.json":
            self.fetches += 1
            keys = [key.as_dict(private=False) for key in self.keys]
            return httpx.Response(200, json={"keys": keys})
        return httpx.Response(404)

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": [AUDIENCE],
            "sub": "person-1",
            "client_id": "ilmo-console",
            "iat": now,
            "exp": now + 300,
            "name": "Olli Organisoija",
            "roles": ["organiser"],
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, key: RSAKey | None = None, *, alg: str = "RS256", **changes: Any) -> str:
        signing = key or self.keys[0]
        header = {"alg": alg, "kid": signing.kid}
        return jwt.encode(header, self.claims(**changes), signing, algorithms=[alg])


def unsigned(claims: dict[str, Any], header: dict[str, Any]) -> str:
    """A token with the header given and no signature (``alg: none``)."""
    return ".".join((_segment(header), _segment(claims), ""))


def _segment(value: dict[str, Any]) -> str:
    raw = json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
