"""HTTP entry points: the event catalogue (admin), public event pages, registrations.

Each route parses the request, calls a use case (``usecases``) and maps what
it answers with the models of ``schemas``. What a use case refuses
(``domain.Refused``) is answered as problem details (``problem_for``), as is
every other error (``ilmo_shared.http.problems``). Nothing here logs per
request, and nothing logs personal data.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures,
# whose dependencies refer to this module's closures.
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError

from ilmo_registration import CATALOGUE
from ilmo_registration.audit import Action, AuditTrail
from ilmo_registration.audit_details import (
    WITHOUT_PERSONAL_DATA,
    export_format,
    fields_changed,
    notice_version,
    swept,
)
from ilmo_registration.catalogue import EventSpec, Violation
from ilmo_registration.domain import (
    Cancelled,
    Erased,
    EventEnded,
    EventExists,
    EventIsCancelled,
    EventNotPublished,
    EventStarted,
    InvalidEvent,
    NeedsWithoutConsent,
    NoFreeEventId,
    NotSwitchable,
    Refused,
    RegistrationClosed,
    Switch,
)
from ilmo_registration.export import registrations_csv
from ilmo_registration.idempotency import (
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    RequestInProgress,
)
from ilmo_registration.keyed_registration import KeyedRegistration
from ilmo_registration.listing import ListingParameters
from ilmo_registration.privacy import PrivacyNoticeChanged
from ilmo_registration.rate_limits import RateLimits
from ilmo_registration.schemas import (
    AttendanceChange,
    CancellationIn,
    DetailsChangeRequest,
    EventCreate,
    EventPatch,
    EventView,
    PrivacyNoticeIn,
    PrivacyNoticeView,
    RegistrationReceipt,
    RegistrationRequest,
    RegistrationSummary,
    RegistrationView,
    SweepSummary,
)
from ilmo_registration.security import ManageCredentials
from ilmo_registration.settings import RegistrationSettings
from ilmo_registration.usecases import UseCases
from ilmo_shared.access import Permission, Principal
from ilmo_shared.http.problems import (
    Problem,
    ProblemRoute,
    field_errors,
    invalid,
    not_found,
    problem_responses,
)
from ilmo_shared.i18n import _
from ilmo_shared.identity import Authorization, forbidden
from ilmo_shared.storage import ConcurrentChangeError

NO_STORE = {"Cache-Control": "no-store"}
_SUMMARIES = TypeAdapter(list[RegistrationSummary])


def problem_for(refusal: Refused | ConcurrentChangeError) -> Problem:
    """The problem details that answer what a use case refused."""
    match refusal:
        case InvalidIdempotencyKey():  # the header's schema refuses it first; kept total
            return invalid(
                [Violation("Idempotency-Key", "16 to 255 visible ASCII characters, e.g. a UUID")]
            )
        case IdempotencyKeyReused():
            return _problem(
                422,
                "idempotency-key-reused",
                _("Idempotency-Key used for another request"),
                _("This key was sent with a different request body. Use a new key."),
            )
        case RequestInProgress(retry_after=seconds):
            return Problem(
                409,
                "request-in-progress",
                _("Request in progress"),
                _("A request with this Idempotency-Key is still being processed. Try again."),
                headers={"Retry-After": str(seconds)},
                catalogue=CATALOGUE,
            )
        case InvalidEvent():
            return invalid(refusal.violations, CATALOGUE)
        case EventExists():
            return _problem(
                409,
                "event-exists",
                _("Event already exists"),
                _("The id %(event_id)s is taken."),
                event_id=refusal.event_id,
            )
        case EventIsCancelled():
            return _problem(
                409,
                "event-cancelled",
                _("The event is cancelled"),
                _("The organiser cancelled this event: it takes no registrations or changes."),
            )
        case EventNotPublished():
            return _problem(
                409,
                "event-not-published",
                _("The event is not published"),
                _("Only a published event can be cancelled; a draft has nobody to tell."),
            )
        case NoFreeEventId():
            return _problem(409, "conflict", _("Could not choose an event id"), _("Try again."))
        case ConcurrentChangeError():
            return _problem(409, "conflict", _("Changed concurrently"), _("Try again."))
        case RegistrationClosed(opens_at=opens_at) if opens_at is not None:
            return _registration_closed(_("Registration opens at %(at)s."), opens_at)
        case RegistrationClosed(closed_at=closed_at) if closed_at is not None:
            return _registration_closed(_("Registration closed at %(at)s."), closed_at)
        case PrivacyNoticeChanged(current=current):
            return _problem(
                409,
                "privacy-notice-changed",
                _("The privacy notice has changed"),
                _(
                    "Show the notice in force (version %(version)s, "
                    "GET /api/v1/events/{id}/privacy-notice) and register with its version."
                ),
                version=current.version,
            )
        case EventStarted(action="cancelled"):
            return _problem(
                409,
                "event-started",
                _("The event has started"),
                _("A registration can be cancelled only until the event starts."),
            )
        case EventStarted():
            return _problem(
                409,
                "event-started",
                _("The event has started"),
                _("Attendance can be switched to remote only until the event starts."),
            )
        case NotSwitchable(standing=Switch.PENDING):
            return _problem(
                409,
                "registration-not-confirmed",
                _("Registration not confirmed"),
                _(
                    "Confirm the address with the link in the mail first; then attendance can "
                    "be switched."
                ),
            )
        case NotSwitchable():
            return _problem(
                409,
                "registration-cancelled",
                _("Registration cancelled"),
                _("A cancelled registration cannot switch attendance."),
            )
        case EventEnded():
            return _problem(
                409,
                "event-ended",
                _("The event has ended"),
                _("A registration's details can be corrected only until the event ends."),
            )
        case Cancelled():
            return _problem(
                410,
                "registration-cancelled",
                _("Registration cancelled"),
                _("This registration was cancelled; its details can no longer be changed."),
            )
        case NeedsWithoutConsent():
            return invalid(
                [Violation("needs_consent", "needs are processed only with needs_consent: true")]
            )
        case Erased():
            return _problem(
                410,
                "registration-erased",
                _("Registration erased"),
                _("The personal data of this registration was erased; its links no longer work."),
            )
        case _:  # NotFound: a wrong token and an unknown id get the same answer
            return not_found()


def _problem(status: int, slug: str, title: str, detail: str, **values: object) -> Problem:
    """A problem whose texts are in this service's catalogue."""
    return Problem(status, slug, title, detail, values=values, catalogue=CATALOGUE)


def _registration_closed(detail: str, at: datetime) -> Problem:
    return _problem(
        409, "registration-closed", _("Registration is closed"), detail, at=at.isoformat()
    )


class _RefusalsAsProblems(APIRoute):
    """Answers what the route's use case refused as problem details."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def answering(request: Request) -> Response:
            try:
                return await handle(request)
            except (Refused, ConcurrentChangeError) as refusal:
                raise problem_for(refusal) from None

        return answering


class UseCaseRoute(ProblemRoute, _RefusalsAsProblems):
    """A route of the JSON API: refusals become problem details, surprises a 500 problem.

    In this order ``ProblemRoute``'s guard wraps the refusals' handler, so a
    refusal is never taken for an unexpected failure.
    """


# ------------------------------------------------------------------- catalogue


def catalogue_router(
    usecases: UseCases,
    authorization: Authorization,
    audit: AuditTrail,
    settings: RegistrationSettings,
) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["events"], route_class=UseCaseRoute)

    @router.post(
        "/events",
        status_code=status.HTTP_201_CREATED,
        response_model=EventView,
        summary="Create an event (admin)",
        responses=problem_responses(
            401, 403, 422, _409="An event with this id exists (`/problems/event-exists`)."
        ),
    )
    async def create_event(
        body: EventCreate,
        response: Response,
        principal: Annotated[Principal, authorization.requires(Permission.CHANGE_EVENTS)],
    ) -> EventView:
        stored = await usecases.create_event(body.to_spec(), body.id)
        await audit.record(principal, Action.EVENT_CREATED, event_id=stored.id)
        response.headers["Location"] = settings.public_url(f"/api/v1/events/{stored.id}")
        return EventView.of(stored, usecases.now(), admin=True)

    @router.patch(
        "/events/{event_id}",
        response_model=EventView,
        summary="Change an event (admin)",
        description="Each field given replaces the stored one (`null` clears an optional field); "
        "the resulting event is validated as a whole. Publishes `event.updated` when "
        "something changed.",
        responses=problem_responses(
            401,
            403,
            404,
            422,
            _409="Changed concurrently; try again (`/problems/conflict`), or the event is "
            "cancelled (`/problems/event-cancelled`).",
        ),
    )
    async def change_event(
        event_id: str,
        body: EventPatch,
        principal: Annotated[Principal, authorization.requires(Permission.CHANGE_EVENTS)],
    ) -> EventView:
        stored = await usecases.change_event(event_id, _patching(body))
        await _record_change(audit, principal, stored.id, body)
        return EventView.of(stored, usecases.now(), admin=True)

    @router.post(
        "/events/{event_id}/cancellation",
        response_model=EventView,
        summary="Cancel a published event (admin)",
        description="Sets `cancelled_at` (and the optional `note` to registrants, in fi/sv/en) "
        "and publishes `event.cancelled`: everyone registered is told by mail, watch links "
        "stop working, nobody is promoted any more. Final: the event takes no registrations "
        "and no changes from then on. Asking again answers the same event and changes "
        "nothing (the first note stays).",
        responses=problem_responses(
            401,
            403,
            404,
            422,
            _409="The event is a draft (`/problems/event-not-published`), or changed "
            "concurrently (`/problems/conflict`).",
        ),
    )
    async def cancel_event(
        event_id: str,
        principal: Annotated[Principal, authorization.requires(Permission.CHANGE_EVENTS)],
        body: CancellationIn | None = None,
    ) -> EventView:
        note = body.localized_note() if body is not None else None
        stored = await usecases.cancel_event(event_id, note)
        await audit.record(principal, Action.EVENT_CANCELLED, event_id=stored.id)
        return EventView.of(stored, usecases.now(), admin=True)

    @router.get(
        "/events",
        response_model=list[EventView],
        summary="List published events",
        description="Published events, soonest first. With a token that has the permission "
        "`read-events`: all events, drafts too, with their stream_url.",
        responses=problem_responses(
            _401="An invalid or expired token was given.",
            _403="The token's roles do not include `read-events`.",
        ),
    )
    async def list_events(
        caller: Annotated[Principal | None, authorization.optional()],
    ) -> list[EventView]:
        admin = _reads_events(caller)
        now = usecases.now()
        stored = await usecases.list_events(admin=admin)
        return [EventView.of(event, now, admin=admin) for event in stored]

    @router.get(
        "/events/{event_id}",
        response_model=EventView,
        summary="Show a published event",
        description="With a token that has the permission `read-events`: any event, "
        "drafts too, with its stream_url.",
        responses=problem_responses(
            404,
            _401="An invalid or expired token was given.",
            _403="The token's roles do not include `read-events`.",
        ),
    )
    async def show_event(
        event_id: str, caller: Annotated[Principal | None, authorization.optional()]
    ) -> EventView:
        admin = _reads_events(caller)
        stored = await usecases.show_event(event_id, admin=admin)
        return EventView.of(stored, usecases.now(), admin=admin)

    @router.get(
        "/events/{event_id}/privacy-notice",
        response_model=PrivacyNoticeView,
        summary="The event's privacy notice",
        description="The notice in force, in Finnish, Swedish and English. Show it to the "
        "registrant and send its `version` as `privacy_notice_version` when registering. "
        "With a token that has `read-events`, also a draft's.",
        responses=problem_responses(
            404,
            _401="An invalid or expired token was given.",
            _403="The token's roles do not include `read-events`.",
        ),
    )
    async def show_privacy_notice(
        event_id: str, caller: Annotated[Principal | None, authorization.optional()]
    ) -> PrivacyNoticeView:
        notice = await usecases.privacy_notice(event_id, admin=_reads_events(caller))
        return PrivacyNoticeView.of(event_id, notice)

    @router.put(
        "/events/{event_id}/privacy-notice",
        response_model=PrivacyNoticeView,
        summary="Put a privacy notice in force for the event (admin)",
        description="Replaces the built-in notice, or the event's previous one. Every version "
        "stays stored, so the version recorded with each registration keeps naming what "
        "that person was shown. Registrations sent with an older version get "
        "`409 /problems/privacy-notice-changed` from now on.",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def put_privacy_notice(
        event_id: str,
        body: PrivacyNoticeIn,
        principal: Annotated[Principal, authorization.requires(Permission.CHANGE_EVENTS)],
    ) -> PrivacyNoticeView:
        notice = await usecases.put_privacy_notice(event_id, body.texts())
        await audit.record(
            principal,
            Action.PRIVACY_NOTICE_CHANGED,
            event_id=event_id,
            detail=notice_version(notice.version),
        )
        return PrivacyNoticeView.of(event_id, notice)

    @router.get(
        "/events/{event_id}/registrations",
        response_model=list[RegistrationSummary],
        summary="List an event's registrations (admin)",
        description="Every registration with its current state, oldest first. Callers without "
        "the permission `read-personal-data` (viewers) get names, states and attendance "
        "only: `email`, `organisation`, `needs` and the needs' consent times are null. "
        "`Accept: text/csv` gives the same as CSV, which also needs the permission `export`. "
        "`q` searches names, address and organisation (case and accents ignored; viewers "
        "search names only); `status`, `attendance` and `language` filter; `sort` orders by "
        "`name`, `registered_at` or `status` (`-` first: descending); `page` (1, 2, …) "
        "answers 50 at a time, with the number of matching registrations in "
        "`X-Total-Count`.",
        responses={
            200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
            **problem_responses(401, 403, 404, 422),
        },
    )
    async def list_registrations(
        event_id: str,
        principal: Annotated[Principal, authorization.requires(Permission.LIST_REGISTRATIONS)],
        listing: Annotated[ListingParameters, Depends()],
        accept: Annotated[str | None, Header()] = None,
    ) -> Response:
        wants_csv = accept is not None and "text/csv" in accept.lower()
        if wants_csv and not principal.may(Permission.EXPORT):
            raise forbidden()
        personal = principal.may(Permission.READ_PERSONAL_DATA)
        headers = dict(NO_STORE)
        if listing.plain():
            stored = await usecases.list_registrations(event_id)
        else:
            query = listing.query(personal=personal)
            stored = await usecases.selected_registrations(
                event_id, query, paged=listing.page is not None
            )
            if listing.page is not None:
                page = await usecases.registrations_page(event_id, query)
                headers["X-Total-Count"] = str(page.total)
        rows = [RegistrationSummary.of(registration) for registration in stored]
        rows = rows if personal else [row.without_personal_data() for row in rows]
        if wants_csv:
            await audit.record(
                principal,
                Action.REGISTRATIONS_EXPORTED,
                event_id=event_id,
                detail=export_format("csv"),
            )
            return Response(
                registrations_csv(rows),
                media_type="text/csv; charset=utf-8",
                headers={
                    "Content-Disposition": f'attachment; filename="{event_id}-registrations.csv"',
                    **headers,
                },
            )
        detail = None if personal else WITHOUT_PERSONAL_DATA
        await audit.record(principal, Action.REGISTRATIONS_LISTED, event_id=event_id, detail=detail)
        return JSONResponse(_SUMMARIES.dump_python(rows, mode="json"), headers=headers)

    return router


def _reads_events(caller: Principal | None) -> bool:
    """Whether the caller sees drafts: no token, the public view; a token without the right, 403."""
    if caller is None:
        return False
    if not caller.may(Permission.READ_EVENTS):
        raise forbidden()
    return True


async def _record_change(
    audit: AuditTrail, principal: Principal, event_id: str, body: EventPatch
) -> None:
    """event-changed naming the fields given, and event-(un)published when that was one."""
    fields = sorted(body.model_fields_set)
    await audit.record(
        principal, Action.EVENT_CHANGED, event_id=event_id, detail=fields_changed(fields)
    )
    if "published" in body.model_fields_set and body.published is not None:
        action = Action.EVENT_PUBLISHED if body.published else Action.EVENT_UNPUBLISHED
        await audit.record(principal, action, event_id=event_id)


# ---------------------------------------------------------- erasure (admin)


def erasure_router(
    usecases: UseCases, authorization: Authorization, audit: AuditTrail
) -> APIRouter:
    """Erasure on request (GDPR Art. 17) and the retention sweep, for administrators."""
    router = APIRouter(prefix="/api/v1/admin", tags=["erasure"], route_class=UseCaseRoute)

    @router.delete(
        "/registrations/{registration_id}",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=RegistrationSummary,
        summary="Erase a registration's personal data (admin)",
        description="Keeps a tombstone for statistics (answered, without personal data) and "
        "publishes `registration.erased`, on which every service erases its copies; an "
        "active registration of an event not yet over is cancelled first "
        "(`registration.cancelled`), freeing its seat. Its manage link and stream link "
        "then answer 410. Repeating the request is harmless and answers the same.",
        responses=problem_responses(401, 403, 404),
    )
    async def erase_registration(
        registration_id: str,
        response: Response,
        principal: Annotated[Principal, authorization.requires(Permission.CHANGE_REGISTRATIONS)],
    ) -> RegistrationSummary:
        erased = await usecases.erase(registration_id)
        await audit.record(
            principal,
            Action.REGISTRATION_ERASED,
            event_id=erased.event_id,
            registration_id=registration_id,
        )
        response.headers.update(NO_STORE)
        return RegistrationSummary.of(erased)

    @router.post(
        "/retention/sweep",
        response_model=SweepSummary,
        summary="Run the retention sweep now (admin)",
        description="What the service also does periodically "
        "(`ILMO_RETENTION_SWEEP_INTERVAL_SECONDS`): erases the needs of registrations of "
        "events that have ended and erases whole registrations of events that ended more "
        "than their `retention_days` ago, each publishing `registration.erased`.",
        responses=problem_responses(401, 403),
    )
    async def sweep_retention(
        principal: Annotated[Principal, authorization.requires(Permission.OPERATE)],
    ) -> SweepSummary:
        result = await usecases.sweep_retention()
        await audit.record(
            principal,
            Action.RETENTION_SWEPT,
            detail=swept(result.events, result.needs_erased, result.registrations_erased),
        )
        return SweepSummary(
            events=result.events,
            needs_erased=result.needs_erased,
            registrations_erased=result.registrations_erased,
        )

    return router


def _patching(body: EventPatch) -> Callable[[EventSpec], EventSpec]:
    """The change ``body`` asks for; InvalidEvent naming each field it would leave invalid."""

    def change(spec: EventSpec) -> EventSpec:
        try:
            return body.patched(spec)
        except ValidationError as error:
            faults = field_errors(error.errors())
            raise InvalidEvent([Violation(f.field, f.message) for f in faults]) from None

    return change


# --------------------------------------------------------------- registrations


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Makes the request safe to retry: a repeat with the same key and body "
        "gets the first answer again, with the same `id` and `manage_token`. 16 to 255 "
        "visible ASCII characters; a fresh UUID per registration will do. Kept for "
        "`ILMO_IDEMPOTENCY_KEY_HOURS` (24 h by default).",
        min_length=16,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
    ),
]


def registration_router(
    usecases: UseCases,
    settings: RegistrationSettings,
    rate_limits: RateLimits,
    keyed: KeyedRegistration,
) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["registrations"], route_class=UseCaseRoute)

    @router.post(
        "/events/{event_id}/registrations",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=RegistrationReceipt,
        summary="Register for a published event",
        description="Answers once the registration and its event are stored. By default "
        "(the event's `email_confirmation`) the registration is `pending_confirmation` and "
        "the address gets a mail with a link that confirms it; only then is it accepted. "
        "Keep the `manage_token`: it is needed to see or cancel the registration and is "
        "shown only once. An address already registered or pending for the event gets the "
        "same answer (with an id and token that lead nowhere) and a mail instead: nothing "
        "tells anyone who registered. `privacy_notice_version` must be the version of the "
        "event's privacy notice in force. With an `Idempotency-Key` the request can be "
        "retried safely: the same key and body get the same answer, the token included.",
        responses=problem_responses(
            404,
            _409="Registration is closed (`/problems/registration-closed`), the event is "
            "cancelled (`/problems/event-cancelled`), the privacy notice shown is no "
            "longer the one in force (`/problems/privacy-notice-changed`), or a request "
            "with the same Idempotency-Key is still being processed "
            "(`/problems/request-in-progress`, with `Retry-After`).",
            _422="The body or the Idempotency-Key is invalid (`/problems/validation`), or "
            "the key was sent with another body (`/problems/idempotency-key-reused`).",
            _429="Too many registrations from this client address or for this event "
            "(`/problems/too-many-requests`); `Retry-After` gives the seconds to wait.",
        ),
    )
    async def register(
        event_id: str,
        body: RegistrationRequest,
        request: Request,
        response: Response,
        idempotency_key: IdempotencyKey = None,
    ) -> RegistrationReceipt:
        # Counted before any database work, so a refused request costs nothing more.
        await rate_limits.check_registration(request, event_id)
        registrant, version = body.registrant(), body.privacy_notice_version
        if idempotency_key is None:
            receipt = await usecases.register(event_id, registrant, version)
        else:
            receipt = await keyed.register(
                event_id, registrant, version, idempotency_key, body.model_dump(mode="json")
            )
        response.headers.update(NO_STORE)
        response.headers["Location"] = settings.public_url(
            f"/api/v1/registrations/{receipt.registration_id}"
        )
        return RegistrationReceipt(
            id=receipt.registration_id, status=receipt.status, manage_token=receipt.manage_token
        )

    @router.get(
        "/registrations/{registration_id}",
        response_model=RegistrationView,
        summary="Show one's own registration and its state",
        description="With `Authorization: Bearer <manage_token>`, or the token of the manage "
        "link in the registrant's emails. A wrong token and an unknown id get the same 404.",
        responses=problem_responses(
            401, 404, _410="The registration was erased (`/problems/registration-erased`)."
        ),
    )
    async def show_registration(
        registration_id: str, credentials: ManageCredentials, response: Response
    ) -> RegistrationView:
        registration = await usecases.own(registration_id, credentials.credentials)
        response.headers.update(NO_STORE)
        return RegistrationView.of(registration)

    @router.delete(
        "/registrations/{registration_id}",
        response_model=RegistrationView,
        summary="Cancel one's own registration",
        description="With the manage_token or the manage link's token, as for GET. Possible "
        "until the event starts, also after registration has closed. Publishes "
        "`registration.cancelled` once; repeating the request is harmless and answers the same.",
        responses=problem_responses(
            401,
            404,
            _409="The event has started (`/problems/event-started`).",
            _410="The registration was erased (`/problems/registration-erased`).",
        ),
    )
    async def cancel_registration(
        registration_id: str, credentials: ManageCredentials, response: Response
    ) -> RegistrationView:
        registration = await usecases.cancel_own(registration_id, credentials.credentials)
        response.headers.update(NO_STORE)
        return RegistrationView.of(registration)

    @router.put(
        "/registrations/{registration_id}/attendance",
        response_model=RegistrationView,
        summary="Switch one's own attendance between on site and remote",
        description="With the manage_token or the manage link's token, as for GET. To "
        "`in_person` while registration is open (a seat or a place on the waiting list is "
        "then decided, and mailed), to `remote` until the event starts (the seat or the "
        "waiting-list place goes to the next in line, and a personal stream link is mailed). "
        "As often as needed; each switch publishes `registration.attendance_changed` once. "
        "Asking for the attendance the registration has already is harmless and changes "
        "nothing.",
        responses=problem_responses(
            401,
            404,
            422,
            _409="Registration is closed (`/problems/registration-closed`, to `in_person`), "
            "the event has started (`/problems/event-started`, to `remote`), the registration "
            "is cancelled (`/problems/registration-cancelled`) or its address not confirmed "
            "yet (`/problems/registration-not-confirmed`).",
            _410="The registration was erased (`/problems/registration-erased`).",
        ),
    )
    async def switch_attendance(
        registration_id: str,
        body: AttendanceChange,
        credentials: ManageCredentials,
        response: Response,
    ) -> RegistrationView:
        registration = await usecases.switch_attendance(
            registration_id, credentials.credentials, body.attendance
        )
        response.headers.update(NO_STORE)
        return RegistrationView.of(registration)

    @router.patch(
        "/registrations/{registration_id}",
        response_model=RegistrationView,
        summary="Correct one's own details",
        description="With the manage_token or the manage link's token, as for GET. Each field "
        "given replaces the stored one (`null` clears `organisation` or `needs`); they are "
        "validated as at registration, and new `needs` need `needs_consent: true`. The email "
        "address cannot be changed: it was confirmed, and a new address is a new "
        "registration. Possible until the event ends. When names, organisation or language "
        "change, `registration.details_changed` (internal) tells the other services, so later "
        "mails use them; a request that changes nothing changes and announces nothing.",
        responses=problem_responses(
            401,
            404,
            422,
            _409="The event has ended (`/problems/event-ended`).",
            _410="The registration was cancelled (`/problems/registration-cancelled`) or "
            "erased (`/problems/registration-erased`).",
        ),
    )
    async def update_details(
        registration_id: str,
        body: DetailsChangeRequest,
        credentials: ManageCredentials,
        response: Response,
    ) -> RegistrationView:
        registration = await usecases.update_details(
            registration_id, credentials.credentials, body.changes()
        )
        response.headers.update(NO_STORE)
        return RegistrationView.of(registration)

    @router.delete(
        "/registrations/{registration_id}/needs",
        response_model=RegistrationView,
        summary="Withdraw the consent to process one's needs",
        description="With the manage_token or the manage link's token, as for GET. The needs "
        "are erased at once and the withdrawal is recorded; repeating it is harmless.",
        responses=problem_responses(
            401, 404, _410="The registration was erased (`/problems/registration-erased`)."
        ),
    )
    async def withdraw_needs_consent(
        registration_id: str, credentials: ManageCredentials, response: Response
    ) -> RegistrationView:
        registration = await usecases.own(registration_id, credentials.credentials)
        withdrawn = await usecases.withdraw_needs_consent(registration)
        response.headers.update(NO_STORE)
        return RegistrationView.of(withdrawn)

    return router
