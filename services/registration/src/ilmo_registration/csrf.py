"""Protection of the public registration form against cross-site request forgery.

The form carries a token that only this service can make: an HMAC, under a
key derived from ``ILMO_MANAGE_LINK_SECRET`` for this purpose alone, of a
random value that the same response puts in a cookie (``ilmo_form``,
``HttpOnly``, ``SameSite=Strict``). A POST is taken only when its token
matches the HMAC of the cookie it came with: another site can make a
browser send the cookie, but cannot read it or the page, so it cannot make
a matching token (the "signed double-submit cookie" of OWASP's CSRF cheat
sheet). Nothing is stored on the server.

The manage and confirmation forms need no such token: each already posts a
secret, the link token from the email, which another site does not know.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request, Response
from pydantic import SecretStr

COOKIE = "ilmo_form"
FIELD = "form_token"
_CONTEXT = b"ilmo form token v1"
# A cookie value is 43 characters; anything much longer is not one of ours.
_MAX_VALUE = 128


@dataclass(frozen=True)
class FormTokens:
    """Makes and checks the form token for a browser's cookie value."""

    key: bytes

    @classmethod
    def from_secret(cls, secret: SecretStr) -> FormTokens:
        """A key of its own, so a form token is never a valid link token or vice versa."""
        return cls(hmac.new(secret.get_secret_value().encode(), _CONTEXT, hashlib.sha256).digest())

    def token_for(self, cookie_value: str) -> str:
        return hmac.new(self.key, cookie_value.encode(), hashlib.sha256).hexdigest()

    def cookie_value(self, request: Request) -> str | None:
        """The browser's cookie value if it is usable, else None."""
        value = request.cookies.get(COOKIE)
        if value is None or not value.isascii() or not 0 < len(value) <= _MAX_VALUE:
            return None
        return value

    def issue(self, request: Request) -> tuple[str, str | None]:
        """The token for the form, and a new cookie value to set if the browser had none."""
        current = self.cookie_value(request)
        if current is not None:
            return self.token_for(current), None
        fresh = secrets.token_urlsafe(32)
        return self.token_for(fresh), fresh

    def accepts(self, request: Request, token: str | None) -> bool:
        """True when ``token`` belongs to the cookie this request came with (constant time)."""
        value = self.cookie_value(request)
        expected = self.token_for(value) if value is not None else ""
        presented = token if token is not None and token.isascii() else "-"
        return value is not None and hmac.compare_digest(presented, expected)


def set_cookie(response: Response, value: str | None, *, secure: bool) -> Response:
    """Give the browser its cookie value, when a new one was made."""
    if value is not None:
        response.set_cookie(
            COOKIE, value, path="/", httponly=True, samesite="strict", secure=secure
        )
    return response
