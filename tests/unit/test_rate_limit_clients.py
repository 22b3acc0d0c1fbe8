"""Which address a registration is counted under, and the rate-limit settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ilmo_registration.rate_limits import UNKNOWN_CLIENT, client_address, retry_after
from ilmo_registration.settings import RegistrationSettings

PEER = "10.0.0.7"


def test_without_a_trusted_header_the_peer_counts_whatever_the_client_claims() -> None:
    claims = ["1.2.3.4", "5.6.7.8, 9.9.9.9"]
    assert client_address(PEER, claims, trusted_header=False) == PEER
    assert client_address(PEER, [], trusted_header=False) == PEER


def test_a_trusted_proxy_s_right_most_entry_counts_not_what_the_client_prepended() -> None:
    # The client sent "X-Forwarded-For: 1.1.1.1"; our proxy appended the address it saw.
    assert client_address(PEER, ["1.1.1.1, 203.0.113.9"], trusted_header=True) == "203.0.113.9"
    # Several header lines are one list, in order.
    assert client_address(PEER, ["1.1.1.1", "203.0.113.9"], trusted_header=True) == "203.0.113.9"


def test_with_two_trusted_proxies_the_second_entry_from_the_right_counts() -> None:
    forwarded = ["6.6.6.6, 203.0.113.9, 10.1.1.1"]
    assert client_address(PEER, forwarded, trusted_header=True, hops=2) == "203.0.113.9"


def test_a_missing_short_or_garbled_header_falls_back_to_the_peer() -> None:
    assert client_address(PEER, [], trusted_header=True) == PEER
    assert client_address(PEER, ["203.0.113.9"], trusted_header=True, hops=2) == PEER
    assert client_address(PEER, ["1.1.1.1, not-an-address"], trusted_header=True) == PEER
    assert client_address(PEER, [" , "], trusted_header=True) == PEER
    assert client_address(None, [], trusted_header=False) == UNKNOWN_CLIENT


def test_ipv6_clients_count_by_their_64_and_mapped_ipv4_as_ipv4() -> None:
    first = client_address("2001:db8:1:2::1", [], trusted_header=False)
    second = client_address("2001:db8:1:2:ffff::9", [], trusted_header=False)
    assert first == second == "2001:db8:1:2::/64"
    assert client_address(PEER, ["[2001:db8::1]"], trusted_header=True) == "2001:db8::/64"
    assert client_address("::ffff:192.0.2.1", [], trusted_header=False) == "192.0.2.1"


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert retry_after(100.2, 100.0) == 1
    assert retry_after(100.0, 100.5) == 1
    assert retry_after(160.0, 100.5) == 60


def test_the_limits_are_validated_and_off_without_redis() -> None:
    settings = RegistrationSettings()
    assert settings.redis_url is None
    assert (settings.rate_limit_per_client, settings.rate_limit_per_event) == (
        "20/minute",
        "600/minute",
    )
    assert settings.trusted_proxy_header is None
    for bad in (
        {"rate_limit_per_client": "lots"},
        {"rate_limit_per_event": "0/minute"},
        {"redis_url": "http://127.0.0.1:6379"},
        {"trusted_proxy_header": "X Forwarded"},
        {"trusted_proxy_hops": 0},
    ):
        with pytest.raises(ValidationError):
            RegistrationSettings(**bad)
