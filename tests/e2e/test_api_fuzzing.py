"""Schemathesis, with every check and its stateful phase, against the registration service.

The service runs as a process; schemathesis reads its public API's OpenAPI
document (from the operations listener, the same document as
contracts/openapi.json) and runs each of its phases as ``st run`` would:
the schema's examples, the coverage of every keyword (valid and invalid
values, missing headers, methods the document does not list), fuzzing, and
the stateful phase, which follows the document's links from answer to
request: a privacy notice's version into a registration, the receipt into
the registrant's own operations. Every built-in check runs; the few that
contradict a documented behaviour are switched off for the operations
concerned, each with its reason (``OPERATIONS``). On top, what a client
relies on: never a 5xx, every JSON API error is problem details, and nothing
is stored by a request that was refused.

The run is deterministic (a fixed seed, derandomized generation, no
example database), so a failure shows again on the next run.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from tests.support.identity import IdentityProvider
from tests.support.infrastructure import IsolatedInfrastructure
from tests.support.processes import ServiceProcess, running_services
from tests.support.registration import ADMIN, ADMIN_TOKEN, event_payload

# People register for this event: published, open, taking registrants at once.
EVENT_ID = "fuzzed-seminar"
# Administrators' changes to an event aim at this one, so the first stays open,
CHANGED_EVENT_ID = "fuzzed-changes"
# and their cancellations at this one, so that the changes are not all refused.
CANCELLED_EVENT_ID = "fuzzed-cancellation"
SEED = 20260911
EXAMPLES = 12
STATEFUL_EXAMPLES = 60
REGISTRATION = "/api/v1/registrations/{registration_id}"
API = "/api/"


def _operation(path: str, method: str, **settings: Any) -> dict[str, Any]:
    """Settings of one operation (by its name: filters by path and by method would be "or")."""
    return {"include-name": f"{method} {path}", **settings}


def _without(*checks: str) -> dict[str, Any]:
    return {"checks": {name: {"enabled": False} for name in checks}}


# schemathesis' defaults for a valid request, and 410 Gone.
_TAKEN_OR_GONE = ["2xx", "3xx", "401", "403", "404", "409", "410", "429", "5xx"]


def _registrants(path: str, method: str, *without: str) -> dict[str, Any]:
    """A registrant's own operation (see above): without "ignored_auth", 410 a valid answer."""
    checks = _without("ignored_auth", *without)["checks"]
    checks["positive_data_acceptance"] = {"expected-statuses": _TAKEN_OR_GONE}
    return _operation(path, method, checks=checks)


# What differs from the defaults, operation by operation: which real event
# a request aims at, so that it is reached past its 404 (EVENT_ID for reads
# and registrations, by "parameters" below; changes elsewhere, so that
# registration stays open), and each check switched off, with the
# documented behaviour it contradicts.
#
# An event's rules relate its fields to each other (it ends after it starts,
# registration closes before it ends, the agenda lies within the event, each
# reminder has its own time), which JSON Schema cannot say: the descriptions
# do, and an event valid under the schema may be refused with a 422 naming
# the field at fault, so "positive_data_acceptance" is off for its writes.
#
# A registrant's token that does not fit the registration is answered as an
# unknown id (404), never 401 or 403, so that nobody learns which
# registrations exist (docs/security.md): "ignored_auth" expects 401 or 403
# for an invalid token, so it is off for the registrant's operations. A
# cancelled or erased registration answers 410 (documented) to a valid
# request, a state as 404 is, which "positive_data_acceptance" is told.
OPERATIONS = [
    _operation("/api/v1/events", "POST", **_without("positive_data_acceptance")),
    _operation(
        "/api/v1/events/{event_id}",
        "PATCH",
        parameters={"event_id": CHANGED_EVENT_ID},
        # The same fields as a new event's, which the coverage phase tries
        # keyword by keyword for POST /api/v1/events: here it would double
        # the run's time. PATCH is fuzzed, and reached by the stateful phase.
        phases={"coverage": {"enabled": False}},
        **_without("positive_data_acceptance"),
    ),
    _operation(
        "/api/v1/events/{event_id}/privacy-notice",
        "PUT",
        parameters={"event_id": CHANGED_EVENT_ID},
    ),
    _operation(
        "/api/v1/events/{event_id}/cancellation",
        "POST",
        parameters={"event_id": CANCELLED_EVENT_ID},
    ),
    # A cancelled registration stays readable by its registrant (its status
    # says so), so "use_after_free" does not hold after DELETE, which cancels.
    _registrants(REGISTRATION, "GET", "use_after_free"),
    _registrants(REGISTRATION, "DELETE"),
    _registrants(REGISTRATION, "PATCH"),
    _registrants(f"{REGISTRATION}/attendance", "PUT"),
    _registrants(f"{REGISTRATION}/needs", "DELETE"),
    # The sign-in's callback needs the cookie and the state of a sign-in this
    # browser started at the identity provider: without them it answers its
    # documented 400 page, whatever the query.
    _operation("/console/signed-in", "GET", **_without("positive_data_acceptance")),
]


def configuration(service: ServiceProcess, notice_version: str) -> SchemathesisConfig:
    """What ``st run --checks all`` with every phase does, as a reproducible run.

    Most registrations are sent with ``notice_version``, the version of the
    privacy notice in force for EVENT_ID, so that they are taken (and the
    stateful phase follows the receipt's links); the others get 409.
    """
    # Generated Idempotency-Keys repeat from request to request (the coverage
    # phase tries the same boundary values), and a key sent again with another
    # body is answered 422 /problems/idempotency-key-reused, as documented:
    # "positive_data_acceptance" is told so for registering.
    registering = _operation(
        "/api/v1/events/{event_id}/registrations",
        "POST",
        parameters={"body.privacy_notice_version": {"dictionary": "notice", "probability": 0.8}},
        checks={
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
            }
        },
    )
    return SchemathesisConfig.from_dict(
        {
            "dictionaries": {"notice": {"values": [notice_version]}},
            "seed": SEED,
            "base-url": service.url,
            # Nothing remembered between runs: each one is the same.
            "cache": {"enabled": False},
            "generation": {"deterministic": True, "max-examples": EXAMPLES},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                # The document's own links only, the ones clients see; valid
                # requests, so that the links lead somewhere (the phases before
                # send the invalid ones).
                "stateful": {
                    "enabled": True,
                    "inference": {"algorithms": []},
                    "generation": {"mode": "positive", "max-examples": STATEFUL_EXAMPLES},
                },
            },
            # Every check, as ``st run --checks all``: max_response_time, which
            # needs a limit, has none (times on a shared machine prove nothing).
            "checks": {"enabled": True},
            "parameters": {"path.event_id": EVENT_ID},
            "operations": [*OPERATIONS, registering],
            "request-timeout": 30,
        }
    )


@dataclass
class Observed:
    """What the run saw that the checks do not keep: tokens, stored ids, broken promises."""

    manage_tokens: dict[str, str] = field(default_factory=dict)
    receipts: set[str] = field(default_factory=set)
    created_events: set[str] = field(default_factory=set)
    statuses: Counter[str] = field(default_factory=Counter)
    broken: list[str] = field(default_factory=list)

    def record(self, case: Any, response: Any) -> None:
        status = response.status_code
        self.statuses[f"{case.method} {case.path} {status}"] += 1
        where = f"{case.method} {case.formatted_path} -> {status}"
        if status >= 500:
            self.broken.append(f"{where}: a server error: {response.text[:300]}")
        if case.path.startswith(API) and status >= 400:
            self.broken += _not_problem_details(response, where)
        taken = case.method == "POST" and status in (201, 202)
        if taken and case.path == "/api/v1/events/{event_id}/registrations":
            receipt = response.json()
            self.receipts.add(receipt["id"])
            self.manage_tokens[receipt["id"]] = receipt["manage_token"]
        if taken and case.path == "/api/v1/events":
            self.created_events.add(response.json()["id"])


def _not_problem_details(response: Any, where: str) -> list[str]:
    content_type = response.headers.get("content-type", [""])[0]
    if not content_type.startswith("application/problem+json"):
        return [f"{where}: an API error as {content_type!r}, not problem details"]
    problem = response.json()
    if problem.get("status") != response.status_code:
        return [f"{where}: problem status {problem.get('status')}"]
    if not str(problem.get("type", "")).startswith("/problems/"):
        return [f"{where}: problem type {problem.get('type')!r}"]
    return []


observed = Observed()


@pytest.fixture(scope="module")
def registration(
    infrastructure: IsolatedInfrastructure, identity: IdentityProvider
) -> Iterator[ServiceProcess]:
    # Configured as in production, with an identity provider, so the console's
    # sign-in pages are fuzzed as they really answer (the client need not
    # exist at the provider: nobody signs in here).
    console = {
        "ILMO_OIDC_ISSUER": identity.issuer,
        "ILMO_OIDC_CLIENT_ID": "fuzzed-console",
        "ILMO_OIDC_CLIENT_SECRET": "fuzzed-console-secret",
    }
    with running_services(
        infrastructure, names=("registration",), extra_environment=console
    ) as services:
        service = services["registration"]
        for event_id in (EVENT_ID, CHANGED_EVENT_ID, CANCELLED_EVENT_ID):
            created = httpx.post(
                f"{service.url}/api/v1/events",
                json=event_payload(id=event_id, email_confirmation=False),
                headers=ADMIN,
            )
            assert created.status_code == 201, created.text
        yield service


@pytest.fixture(scope="module")
def notice_version(registration: ServiceProcess) -> str:
    notice = httpx.get(f"{registration.url}/api/v1/events/{EVENT_ID}/privacy-notice")
    assert notice.status_code == 200, notice.text
    return str(notice.json()["version"])


def test_every_schemathesis_check_holds_in_every_phase(
    registration: ServiceProcess, notice_version: str
) -> None:
    schema = schemathesis.openapi.from_url(
        f"{registration.operations_url}/openapi.json",
        headers=dict(ADMIN),
        config=configuration(registration, notice_version),
    )

    @schema.hook
    def after_call(context: Any, case: Any, response: Any) -> None:
        observed.record(case, response)

    @schema.auth(refresh_interval=None, retry_on=[])
    class Credentials:
        """An administrator's token, and a registrant's own manage token on their operations.

        A link cannot carry the manage token (it is a bearer token, not a
        parameter), so it is taken from the receipt that the registration
        answered with, as a client would.
        """

        def get(self, case: Any, context: Any) -> str:
            if case.operation.path.startswith("/api/v1/registrations/"):
                registration_id = str(case.path_parameters.get("registration_id"))
                return observed.manage_tokens.get(registration_id, "not-a-manage-token")
            return ADMIN_TOKEN

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    started = time.monotonic()
    failures: list[str] = []
    phases: dict[str, str] = {}
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            failures += _failures(event)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures.append(f"schemathesis could not run: {event!r}")
        elif isinstance(event, events.PhaseFinished):
            phases[event.phase.name.value] = event.status.value
            print(f"{event.phase.name.value}: {event.status} at {time.monotonic() - started:.0f} s")
    reached = {
        key: count
        for key, count in observed.statuses.items()
        if key.startswith("GET /api/v1/registrations/")
    }
    print(f"{sum(observed.statuses.values())} requests; registrants' reads: {reached}")
    assert not failures, "\n\n".join(sorted(set(failures)))
    assert not observed.broken, "\n".join(sorted(set(observed.broken)))
    # Every phase ran, and the links reach registrations: registrants read their own.
    ran = ("examples", "coverage", "fuzzing", "stateful")
    assert {phase: phases.get(phase) for phase in ran} == dict.fromkeys(ran, "success")
    assert any(key.endswith(" 200") for key in reached), reached


def _failures(finished: events.ScenarioFinished) -> list[str]:
    found = []
    for checks in finished.recorder.checks.values():
        for check in checks:
            info = check.failure_info
            if info is not None:
                failure = info.failure
                found.append(
                    f"[{finished.phase.value}] {failure.code} {check.name} {failure.operation}: "
                    f"{failure.title}\n{failure.message}\n{info.code_sample}"
                )
    return found


def test_refused_requests_left_nothing_behind(registration: ServiceProcess) -> None:
    """Everything stored was answered as accepted: registrations by a 202, events by a 201."""
    answer = httpx.get(f"{registration.url}/api/v1/events/{EVENT_ID}/registrations", headers=ADMIN)
    assert answer.status_code == 200
    stored = {row["id"] for row in answer.json()}
    assert stored <= observed.receipts, stored - observed.receipts
    listed = httpx.get(f"{registration.url}/api/v1/events", headers=ADMIN)
    assert listed.status_code == 200
    events_stored = {event["id"] for event in listed.json()}
    ours = {EVENT_ID, CHANGED_EVENT_ID, CANCELLED_EVENT_ID}
    assert events_stored <= observed.created_events | ours, events_stored - ours
