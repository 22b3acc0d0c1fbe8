"""The OpenAPI links of the public API: which answer feeds which request.

FastAPI generates the document from the routes and the models; it cannot
know that the new event's ``id`` leads to its page, or that a registration's
receipt leads to the registrant's own operations. These links say so, for
generated clients and for the stateful phase of the schemathesis test
(tests/e2e/test_api_fuzzing.py), which follows them from answer to request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

EVENTS = "/api/v1/events"
EVENT = "/api/v1/events/{event_id}"
REGISTRATION = "/api/v1/registrations/{registration_id}"


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: an answer of ``source`` gives values for a request of ``target``.

    ``source`` and ``target`` are (method, path template); ``parameters``
    and ``request_body`` map the target's names to runtime expressions.
    """

    name: str
    source: tuple[str, str]
    status: int
    target: tuple[str, str]
    description: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    request_body: Mapping[str, str] | None = None


_NEW_EVENT = {"event_id": "$response.body#/id"}
_RECEIPT = {"registration_id": "$response.body#/id"}
# A link cannot carry the registrant's credentials: the receipt's ``manage_token``.
_AUTHORIZED_BY_RECEIPT = " With the receipt's `manage_token` as the bearer token."

LINKS = (
    Link(
        "ShowPrivacyNotice",
        ("GET", EVENT),
        200,
        ("GET", f"{EVENT}/privacy-notice"),
        "The notice to show before registering for this event.",
        {"event_id": "$response.body#/id"},
    ),
    Link(
        "Register",
        ("GET", f"{EVENT}/privacy-notice"),
        200,
        ("POST", f"{EVENT}/registrations"),
        "Register for the event, saying that this version of its notice was shown.",
        {"event_id": "$response.body#/event_id"},
        {"privacy_notice_version": "$response.body#/version"},
    ),
    *(
        Link(name, ("POST", EVENTS), 201, (method, f"{EVENT}{tail}"), text, _NEW_EVENT)
        for name, method, tail, text in (
            ("ShowEvent", "GET", "", "The event just created."),
            ("ChangeEvent", "PATCH", "", "Change the event just created."),
            ("CancelEvent", "POST", "/cancellation", "Cancel it, once published."),
            ("ShowEventPrivacyNotice", "GET", "/privacy-notice", "Its privacy notice."),
            ("PutPrivacyNotice", "PUT", "/privacy-notice", "Put a notice of its own in force."),
            ("ListRegistrations", "GET", "/registrations", "Its registrations."),
            ("SendMessage", "PUT", "/messages/{message_id}", "Write to its registrants."),
        )
    ),
    *(
        Link(name, ("POST", f"{EVENT}/registrations"), 202, target, text, _RECEIPT)
        for name, target, text in (
            (
                "ShowRegistration",
                ("GET", REGISTRATION),
                f"See the registration.{_AUTHORIZED_BY_RECEIPT}",
            ),
            ("CancelRegistration", ("DELETE", REGISTRATION), f"Cancel it.{_AUTHORIZED_BY_RECEIPT}"),
            (
                "CorrectDetails",
                ("PATCH", REGISTRATION),
                f"Correct its details.{_AUTHORIZED_BY_RECEIPT}",
            ),
            (
                "SwitchAttendance",
                ("PUT", f"{REGISTRATION}/attendance"),
                f"Switch between on site and remote.{_AUTHORIZED_BY_RECEIPT}",
            ),
            (
                "WithdrawNeedsConsent",
                ("DELETE", f"{REGISTRATION}/needs"),
                f"Withdraw the consent to process the needs.{_AUTHORIZED_BY_RECEIPT}",
            ),
        )
    ),
    Link(
        "EraseRegistration",
        ("POST", f"{EVENT}/registrations"),
        202,
        ("DELETE", "/api/v1/admin/registrations/{registration_id}"),
        "Erase the registration's personal data (administrators).",
        _RECEIPT,
    ),
)


def add_links(document: dict[str, Any], links: tuple[Link, ...] = LINKS) -> None:
    """Put ``links`` into ``document``'s responses, naming targets by their operationId.

    A link whose source or target the document lacks is an error here, not
    a link that leads nowhere.
    """
    paths = document["paths"]
    for link in links:
        source = paths[link.source[1]][link.source[0].lower()]
        target = paths[link.target[1]][link.target[0].lower()]
        declared: dict[str, Any] = {
            "operationId": target["operationId"],
            "description": link.description,
            "parameters": dict(link.parameters),
        }
        if link.request_body is not None:
            declared["requestBody"] = dict(link.request_body)
        answer = source["responses"][str(link.status)]
        answer.setdefault("links", {})[link.name] = declared


def document_links(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document carry ``LINKS`` (generated once, as FastAPI keeps it)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        add_links(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
