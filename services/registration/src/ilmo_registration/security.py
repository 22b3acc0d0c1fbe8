"""Registrants' bearer tokens: each registration's manage token and its link tokens.

Organisers, viewers and operators are not here: their tokens come from the
identity provider and one dependency checks their roles
(``ilmo_shared.identity.Authorization``). Tokens here are compared in
constant time (``hmac.compare_digest``). A manage token is random (256
bits), handed out once in the 202 answer, and stored only as its SHA-256
digest, so a copy of the database cannot be used to
change anybody's registration. A registration can also be managed with its
link token, the one in the manage link of its emails: an HMAC of the
registration id under ``ILMO_MANAGE_LINK_SECRET`` (``ilmo_shared.manage_links``),
which nothing stores.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from ilmo_shared.check_in import registration_of
from ilmo_shared.http.problems import unauthorized
from ilmo_shared.manage_links import (
    is_confirmation_link_token,
    is_manage_link_token,
    manage_link_token,
)

manage_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="manageToken",
    description="The manage_token returned when the registration was accepted, or the "
    "token of the manage link in the registrant's emails.",
)


async def _presented_credentials(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(manage_bearer)],
) -> HTTPAuthorizationCredentials:
    """The registrant's bearer token; 401 without one, before the body is even validated.

    Checked as a dependency rather than in each route, so that a request
    without a token is told it needs one whatever else is wrong with it.
    Whether the token fits the registration is the use case's question.
    """
    if credentials is None:
        raise unauthorized()
    return credentials


ManageCredentials = Annotated[HTTPAuthorizationCredentials, Depends(_presented_credentials)]


def new_manage_token() -> tuple[str, str]:
    """A fresh manage token and the digest that is stored instead of it."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Compared against when there is nothing to compare with, so an unknown id
# costs the same as a wrong token.
_NOTHING = token_digest(secrets.token_urlsafe(32))


def manage_token_matches(token: str | None, digest: str | None) -> bool:
    """True when the presented token is the one whose digest is stored."""
    presented = token_digest(token) if token is not None else ""
    expected = digest if digest is not None else _NOTHING
    return hmac.compare_digest(presented.encode(), expected.encode()) and digest is not None


# A check-in code is about 63 characters; only so much of what is typed is read.
_MAX_CHECK_IN_CODE = 200
# A link token is 43 characters; anything much longer is not one.
_MAX_LINK_TOKEN = 128


class ManageLinks:
    """Checks link tokens: those in the manage and confirmation links the notification
    service emails (one secret, a context per purpose)."""

    def __init__(self, secret: SecretStr) -> None:
        self._secret = secret.get_secret_value()

    def matches(self, registration_id: str, token: str | None) -> bool:
        """True when ``token`` is the link token of ``registration_id`` (constant time)."""
        return is_manage_link_token(self._secret, registration_id, _presented(token))

    def confirms(self, registration_id: str, token: str | None) -> bool:
        """True when ``token`` is the confirmation link token of ``registration_id``."""
        return is_confirmation_link_token(self._secret, registration_id, _presented(token))

    def check_in_registration(self, code: str) -> str | None:
        """The registration a check-in QR code names (``ilmo_shared.check_in``), if it is valid."""
        return registration_of(self._secret, code[:_MAX_CHECK_IN_CODE])

    def manage_token(self, registration_id: str) -> str:
        """The manage link's token, for the page a confirmation leads to."""
        return manage_link_token(self._secret, registration_id)


def _presented(token: str | None) -> str:
    """The token as compared: a missing, non-ASCII or overlong one as "", which never matches.

    ``hmac.compare_digest`` refuses strings with non-ASCII characters
    (TypeError), so every refusal costs the same.
    """
    usable = token is not None and token.isascii() and len(token) <= _MAX_LINK_TOKEN
    return token if usable and token is not None else ""
