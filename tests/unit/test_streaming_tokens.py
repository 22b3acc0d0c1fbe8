"""Personal link tokens: signed registration ids, 43 URL-safe characters, nothing else accepted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

import pytest

from ilmo_streaming.tokens import TOKEN_LENGTH, LinkTokens, watch_url

SECRET = "s" * 16 + "0123456789abcdef0123"
REGISTRATION = uuid.UUID("5f0c6c1e-8d1f-4d8a-9a51-0a6c3b2e9f10")


def expected_token(secret: str, registration_id: uuid.UUID) -> str:
    """The documented format, computed independently of the code under test."""
    tag = hmac.new(
        secret.encode(), b"ilmo/stream-link/v1:" + registration_id.bytes, hashlib.sha256
    ).digest()[:16]
    return base64.urlsafe_b64encode(registration_id.bytes + tag).decode().rstrip("=")


def test_the_token_is_the_registration_id_and_a_truncated_hmac_in_base64url() -> None:
    token = LinkTokens(SECRET).token_for(REGISTRATION)
    assert token == expected_token(SECRET, REGISTRATION)
    assert len(token) == TOKEN_LENGTH == 43
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_one_registration_has_one_token_and_others_have_others() -> None:
    tokens = LinkTokens(SECRET)
    assert tokens.token_for(REGISTRATION) == LinkTokens(SECRET).token_for(REGISTRATION)
    others = {tokens.token_for(uuid.uuid4()) for _ in range(200)}
    assert len(others) == 200
    assert tokens.token_for(REGISTRATION) not in others


def test_a_token_tells_its_registration_back() -> None:
    tokens = LinkTokens(SECRET)
    for registration_id in [REGISTRATION, *(uuid.uuid4() for _ in range(50))]:
        assert tokens.registration_of(tokens.token_for(registration_id)) == registration_id


def test_a_token_made_with_another_secret_is_rejected() -> None:
    other = LinkTokens(SECRET + "x").token_for(REGISTRATION)
    assert other != LinkTokens(SECRET).token_for(REGISTRATION)
    assert LinkTokens(SECRET).registration_of(other) is None


def test_changing_any_character_breaks_the_token() -> None:
    tokens = LinkTokens(SECRET)
    token = tokens.token_for(REGISTRATION)
    for position in range(len(token)):
        for replacement in "A_-9z":
            if token[position] == replacement:
                continue
            tampered = token[:position] + replacement + token[position + 1 :]
            assert tokens.registration_of(tampered) is None, (position, replacement)


def test_a_non_canonical_spelling_of_the_same_bytes_is_rejected() -> None:
    tokens = LinkTokens(SECRET)
    token = tokens.token_for(REGISTRATION)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    # The last character's two low bits are padding: these decode to the same bytes.
    for spare in (1, 2, 3):
        variant = token[:-1] + alphabet[(last & ~3) | spare]
        assert base64.urlsafe_b64decode(variant + "=") == base64.urlsafe_b64decode(token + "=")
        assert tokens.registration_of(variant) is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "x",
        "A" * 42,
        "A" * 44,
        "A" * 43,
        "+" * 43,
        "/" * 43,
        "A" * 42 + "=",
        " " * 43,
        "ä" * 43,
        str(REGISTRATION),
    ],
)
def test_malformed_tokens_are_rejected(token: str) -> None:
    assert LinkTokens(SECRET).registration_of(token) is None


def test_padding_or_whitespace_around_a_good_token_is_rejected() -> None:
    tokens = LinkTokens(SECRET)
    token = tokens.token_for(REGISTRATION)
    for variant in (token + "=", " " + token, token + "\n", token.upper()):
        assert tokens.registration_of(variant) is None


def test_the_tag_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    tokens = LinkTokens(SECRET)
    good = tokens.token_for(REGISTRATION)
    bad = LinkTokens(SECRET + "x").token_for(REGISTRATION)
    assert tokens.registration_of(good) == REGISTRATION
    assert tokens.registration_of(bad) is None
    assert len(compared) == 2
    assert all(len(a) == len(b) == 16 for a, b in compared)


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        LinkTokens("")


def test_the_link_is_the_public_base_url_and_the_token_only() -> None:
    token = LinkTokens(SECRET).token_for(REGISTRATION)
    assert watch_url("https://ilmo.example.fi/", token) == f"https://ilmo.example.fi/watch/{token}"
    assert (
        watch_url("https://ilmo.example.fi/tv", token)
        == f"https://ilmo.example.fi/tv/watch/{token}"
    )
    assert str(REGISTRATION) not in watch_url("https://ilmo.example.fi", token)
