"""Token checks: what the verifier accepts from the provider, and every forgery it refuses."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest

from ilmo_shared.access import DEVELOPMENT_ROLES, Kind, Role
from ilmo_shared.identity import REFETCH_INTERVAL_SECONDS, InvalidToken, TokenVerifier
from tests.support.signer import AUDIENCE, TestProvider, unsigned

DEVELOPMENT_TOKEN = "development-token-0123456789abcdef0123"


class Clock:
    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


@pytest.fixture(scope="module")
def provider() -> TestProvider:
    return TestProvider()


def verifier_for(provider: TestProvider, **options: Any) -> TokenVerifier:
    values: dict[str, Any] = {
        "issuer": provider.issuer,
        "audience": AUDIENCE,
        "service_clients": ["ilmo-console"],
        "development_token": DEVELOPMENT_TOKEN,
        "transport": provider.transport(),
    }
    return TokenVerifier(**{**values, **options})


async def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        await verifier.principal(token)
    return caught.value.reason


async def test_a_persons_token_gives_their_subject_name_and_roles(provider: TestProvider) -> None:
    principal = await verifier_for(provider).principal(provider.token(roles=["viewer", "door"]))
    assert principal.subject == "person-1"
    assert principal.name == "Olli Organisoija"
    assert principal.kind is Kind.PERSON
    assert principal.roles == {Role.VIEWER, Role.DOOR}


async def test_a_name_falls_back_to_the_username_then_the_subject(provider: TestProvider) -> None:
    verifier = verifier_for(provider)
    named = await verifier.principal(provider.token(name=None, preferred_username="olli"))
    assert named.name == "olli"
    bare = await verifier.principal(provider.token(name=None))
    assert bare.name == "person-1"


async def test_a_service_clients_own_token_is_a_service(provider: TestProvider) -> None:
    verifier = verifier_for(provider)
    service = await verifier.principal(
        provider.token(sub="ilmo-console", client_id="ilmo-console", roles=None, name=None)
    )
    assert service.kind is Kind.SERVICE
    assert service.subject == "ilmo-console"
    other = await verifier.principal(
        provider.token(sub="someone", client_id="someone", roles=None, name=None)
    )
    assert other.kind is Kind.PERSON
    assert other.roles == frozenset()


async def test_roles_from_a_dotted_claim_or_a_string(provider: TestProvider) -> None:
    nested = verifier_for(provider, roles_claim="realm_access.roles")
    token = provider.token(roles=None, realm_access={"roles": ["operator", "offline_access"]})
    assert (await nested.principal(token)).roles == {Role.OPERATOR}
    plain = verifier_for(provider)
    assert (await plain.principal(provider.token(roles="viewer door"))).roles == {
        Role.VIEWER,
        Role.DOOR,
    }


async def test_a_token_signed_by_another_key_is_refused(provider: TestProvider) -> None:
    stranger = TestProvider()
    stranger.keys[0] = type(stranger.keys[0]).generate_key(2048, parameters={"kid": "key-1"})
    assert "signature" in await refused(verifier_for(provider), stranger.token())


async def test_another_issuer_or_audience_is_refused(provider: TestProvider) -> None:
    verifier = verifier_for(provider)
    assert "iss" in await refused(verifier, provider.token(iss="https://other.example.fi/"))
    assert "aud" in await refused(verifier, provider.token(aud=["another-api"]))
    assert "aud" in await refused(verifier, provider.token(aud=None))


async def test_an_expired_or_not_yet_valid_token_is_refused(provider: TestProvider) -> None:
    verifier = verifier_for(provider)
    clock = verifier._now  # the real time; the claims are relative to it
    now = int(clock())
    assert "expired" in await refused(verifier, provider.token(exp=now - 1))
    assert await refused(verifier, provider.token(nbf=now + 120))
    assert await refused(verifier, provider.token(iat=now + 120))
    # A provider's clock a little ahead is tolerated.
    assert (await verifier.principal(provider.token(nbf=now + 10, iat=now + 10))).subject


async def test_unsigned_and_hmac_tokens_are_refused(provider: TestProvider) -> None:
    verifier = verifier_for(provider)
    claims = provider.claims()
    none = unsigned(claims, {"alg": "none", "kid": "key-1"})
    assert await refused(verifier, none) == "algorithm not accepted"
    # HS256 "signed" with the provider's public key, as a forger would.
    public = provider.keys[0].as_pem(private=False)
    signing_input = unsigned(claims, {"alg": "HS256", "kid": "key-1"}).rstrip(".")
    signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    assert await refused(verifier, forged) == "algorithm not accepted"


async def test_malformed_tokens_are_refused(provider: TestProvider) -> None:
    verifier = verifier_for(provider)
    for token in ("", "abc", "a.b.c", "ä.ö.å", "x" * 20_000):
        assert await refused(verifier, token) == "malformed"


async def test_an_unknown_key_is_fetched_again_at_most_every_30_seconds() -> None:
    provider = TestProvider()
    clock = Clock()
    verifier = verifier_for(provider, monotonic=clock)
    await verifier.principal(provider.token())
    assert provider.fetches == 1
    rotated = provider.rotate("key-2")
    # Just fetched: a new kid is not worth asking again yet.
    assert await refused(verifier, provider.token(rotated)) == "signed with an unknown key"
    assert provider.fetches == 1
    clock.seconds += REFETCH_INTERVAL_SECONDS
    assert (await verifier.principal(provider.token(rotated))).subject == "person-1"
    assert provider.fetches == 2
    # Forged kids in a burst cost one fetch per interval, not one each.
    clock.seconds += REFETCH_INTERVAL_SECONDS
    for number in range(5):
        forged = provider.token(provider.rotate(f"unpublished-{number}"))
        provider.keys.pop()
        await refused(verifier, forged)
    assert provider.fetches == 3


async def test_cached_keys_still_verify_while_the_provider_is_down() -> None:
    provider = TestProvider()
    verifier = verifier_for(provider)
    await verifier.principal(provider.token())
    provider.down = True
    assert (await verifier.principal(provider.token())).subject == "person-1"
    cold = verifier_for(provider)
    assert "unavailable" in await refused(cold, provider.token())


async def test_the_development_token_stands_for_every_role(provider: TestProvider) -> None:
    verifier = verifier_for(provider)
    principal = await verifier.principal(DEVELOPMENT_TOKEN)
    assert principal.kind is Kind.DEVELOPMENT
    assert principal.roles == DEVELOPMENT_ROLES
    assert await refused(verifier, DEVELOPMENT_TOKEN[:-1] + "x")
    assert await refused(verifier_for(provider, development_token=None), DEVELOPMENT_TOKEN)


async def test_without_an_issuer_only_the_development_token_is_accepted(
    provider: TestProvider,
) -> None:
    verifier = verifier_for(provider, issuer=None)
    assert "no identity provider" in await refused(verifier, provider.token())
    assert (await verifier.principal(DEVELOPMENT_TOKEN)).kind is Kind.DEVELOPMENT


async def test_claims_of_an_id_token_for_the_consoles_client(provider: TestProvider) -> None:
    verifier = verifier_for(provider)
    token = provider.token(aud="ilmo-console", nonce="n-1")
    claims = await verifier.claims(token, audience="ilmo-console")
    assert claims["nonce"] == "n-1"
    with pytest.raises(InvalidToken):
        await verifier.claims(token, audience=AUDIENCE)
    with pytest.raises(InvalidToken):
        await verifier.claims(DEVELOPMENT_TOKEN, audience=AUDIENCE)
