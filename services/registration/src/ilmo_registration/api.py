"""HTTP entry points: the event catalogue (admin), public event pages, registrations.

Routes check, decide with the pure rules (``catalogue``, ``domain``), store
through the stores and wake the outbox relay. Every error is problem details
(``problems``). Nothing here logs per request, and nothing logs personal data.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures,
# whose dependencies refer to this module's closures.
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from pydantic import TypeAdapter, ValidationError

from ilmo_registration.catalogue import (
    EventSpec,
    generated_event_id,
    is_event_id,
    shown_in_zone,
    to_millisecond,
    violations,
)
from ilmo_registration.domain import (
    Cancellation,
    Registrant,
    RegistrationWindow,
    Status,
    accept,
    decide_cancellation,
    registration_window,
)
from ilmo_registration.export import registrations_csv
from ilmo_registration.problems import (
    Problem,
    ProblemRoute,
    field_errors,
    invalid,
    not_found,
    problem_responses,
    unauthorized,
)
from ilmo_registration.schemas import (
    EventCreate,
    EventFields,
    EventPatch,
    EventView,
    RegistrationReceipt,
    RegistrationRequest,
    RegistrationSummary,
    RegistrationView,
)
from ilmo_registration.security import (
    AdminGuard,
    ManageCredentials,
    ManageLinks,
    manage_token_matches,
    new_manage_token,
)
from ilmo_registration.settings import RegistrationSettings
from ilmo_registration.storage import (
    REGISTRATION_COLLECTION,
    AlreadyRegisteredError,
    ConcurrentChangeError,
    EventExistsError,
    EventStore,
    RegistrationStore,
    StoredEvent,
    StoredRegistration,
)
from ilmo_shared.outbox import OutboxRelay

Clock = Callable[[], datetime]

REGISTRATIONS = Counter(
    "ilmo_registrations_accepted_total", "Registrations accepted and stored.", ["attendance"]
)
REFUSALS = Counter(
    "ilmo_registrations_refused_total",
    "Registrations refused for a reason other than invalid input.",
    ["reason"],
)
CANCELLATIONS = Counter("ilmo_registrations_cancelled_total", "Registrations cancelled.")

NO_STORE = {"Cache-Control": "no-store"}
_SUMMARIES = TypeAdapter(list[RegistrationSummary])


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Dependencies:
    """What the routes work with; built once in ``app.build_app``."""

    events: EventStore
    registrations: RegistrationStore
    relay: OutboxRelay
    admin: AdminGuard
    manage_links: ManageLinks
    settings: RegistrationSettings
    clock: Clock = utc_now

    def now(self) -> datetime:
        return to_millisecond(self.clock())


# ------------------------------------------------------------------- catalogue


def catalogue_router(deps: Dependencies) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["events"], route_class=ProblemRoute)
    admin_only = [Depends(deps.admin.require)]

    @router.post(
        "/events",
        status_code=status.HTTP_201_CREATED,
        response_model=EventView,
        dependencies=admin_only,
        summary="Create an event (admin)",
        responses=problem_responses(
            401, 422, _409="An event with this id exists (`/problems/event-exists`)."
        ),
    )
    async def create_event(body: EventCreate, response: Response) -> EventView:
        spec = body.to_spec()
        _check(spec)
        now = deps.now()
        if body.id is not None:
            try:
                stored = await deps.events.create(body.id, spec, now)
            except EventExistsError:
                raise Problem(
                    409, "event-exists", "Event already exists", f"The id {body.id} is taken."
                ) from None
        else:
            stored = await _create_with_generated_id(deps.events, spec, now)
        deps.relay.notify()
        response.headers["Location"] = deps.settings.public_url(f"/api/v1/events/{stored.id}")
        return event_view(stored, now, admin=True)

    @router.patch(
        "/events/{event_id}",
        response_model=EventView,
        dependencies=admin_only,
        summary="Change an event (admin)",
        description="Each field given replaces the stored one (`null` clears an optional field); "
        "the resulting event is validated as a whole. Publishes `event.updated` when "
        "something changed.",
        responses=problem_responses(
            401, 404, 422, _409="Changed concurrently; try again (`/problems/conflict`)."
        ),
    )
    async def change_event(event_id: str, body: EventPatch) -> EventView:
        def change(spec: EventSpec) -> EventSpec:
            try:
                fields = EventFields.model_validate(body.applied_to(EventFields.of(spec)))
            except ValidationError as error:
                raise Problem(
                    422,
                    "validation",
                    "Invalid request",
                    "One or more fields are invalid.",
                    errors=field_errors(error.errors()),
                ) from None
            changed = fields.to_spec()
            _check(changed)
            return changed

        if not is_event_id(event_id):
            raise not_found()
        now = deps.now()
        try:
            outcome = await deps.events.change(event_id, change, now)
        except ConcurrentChangeError:
            raise Problem(409, "conflict", "Changed concurrently", "Try again.") from None
        if outcome is None:
            raise not_found()
        stored, changed = outcome
        if changed:
            deps.relay.notify()
        return event_view(stored, now, admin=True)

    @router.get(
        "/events",
        response_model=list[EventView],
        summary="List published events",
        description="Published events, soonest first. With the admin token: all events, "
        "with their stream_url.",
        responses=problem_responses(_401="A wrong admin token was given."),
    )
    async def list_events(admin: Annotated[bool, Depends(deps.admin.optional)]) -> list[EventView]:
        now = deps.now()
        stored = await deps.events.all(published_only=not admin)
        return [event_view(event, now, admin=admin) for event in stored]

    @router.get(
        "/events/{event_id}",
        response_model=EventView,
        summary="Show a published event",
        responses=problem_responses(404, _401="A wrong admin token was given."),
    )
    async def show_event(
        event_id: str, admin: Annotated[bool, Depends(deps.admin.optional)]
    ) -> EventView:
        stored = await deps.events.get(event_id) if is_event_id(event_id) else None
        if stored is None or not (stored.spec.published or admin):
            raise not_found()
        return event_view(stored, deps.now(), admin=admin)

    @router.get(
        "/events/{event_id}/registrations",
        response_model=list[RegistrationSummary],
        dependencies=admin_only,
        summary="List an event's registrations (admin)",
        description="Every registration with its current state, oldest first. "
        "`Accept: text/csv` gives the same as CSV.",
        responses={
            200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
            **problem_responses(401, 404),
        },
    )
    async def list_registrations(
        event_id: str, accept: Annotated[str | None, Header()] = None
    ) -> Response:
        stored = await deps.events.get(event_id) if is_event_id(event_id) else None
        if stored is None:
            raise not_found()
        rows = [summary(r) for r in await deps.registrations.for_event(event_id)]
        if accept is not None and "text/csv" in accept.lower():
            return Response(
                registrations_csv(rows),
                media_type="text/csv; charset=utf-8",
                headers={
                    "Content-Disposition": f'attachment; filename="{event_id}-registrations.csv"',
                    **NO_STORE,
                },
            )
        return JSONResponse(_SUMMARIES.dump_python(rows, mode="json"), headers=NO_STORE)

    return router


def _check(spec: EventSpec) -> None:
    found = violations(spec)
    if found:
        raise invalid(found)


async def _create_with_generated_id(
    events: EventStore, spec: EventSpec, now: datetime
) -> StoredEvent:
    for _ in range(5):
        event_id = generated_event_id(spec.title.fi, secrets.token_hex(4))
        try:
            return await events.create(event_id, spec, now)
        except EventExistsError:
            continue
    raise Problem(409, "conflict", "Could not choose an event id", "Try again.")


def event_view(stored: StoredEvent, now: datetime, *, admin: bool) -> EventView:
    spec = shown_in_zone(stored.spec)
    window = registration_window(spec.registration_opens_at, spec.registration_closes_at, now)
    return EventView(
        id=stored.id,
        revision=stored.revision,
        published=spec.published,
        title=spec.title,
        description=spec.description,
        starts_at=spec.starts_at,
        ends_at=spec.ends_at,
        timezone=spec.timezone,
        venue=spec.venue,
        in_person_capacity=spec.in_person_capacity,
        registration_opens_at=spec.registration_opens_at,
        registration_closes_at=spec.registration_closes_at,
        registration_open=window is RegistrationWindow.OPEN,
        stream_url=spec.stream_url if admin else None,
        stream_opens_minutes_before=spec.stream_opens_minutes_before,
        stream_closes_minutes_after=spec.stream_closes_minutes_after,
        agenda=list(spec.agenda),
        target_groups=list(spec.target_groups),
        created_at=stored.created_at,
        updated_at=stored.updated_at,
    )


# --------------------------------------------------------------- registrations


def registration_router(deps: Dependencies) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["registrations"], route_class=ProblemRoute)

    @router.post(
        "/events/{event_id}/registrations",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=RegistrationReceipt,
        summary="Register for a published event",
        description="Answers once the registration and its `registration.accepted` event are "
        "stored. Keep the `manage_token`: it is needed to see or cancel the registration "
        "and is shown only once.",
        responses=problem_responses(
            404,
            422,
            _409="Registration is closed (`/problems/registration-closed`), or this email "
            "address is already registered for the event (`/problems/already-registered`).",
        ),
    )
    async def register(
        event_id: str, body: RegistrationRequest, response: Response
    ) -> RegistrationReceipt:
        event = await deps.events.get(event_id) if is_event_id(event_id) else None
        if event is None or not event.spec.published:
            raise not_found()
        now = deps.now()
        _require_open(event, now)
        registrant = Registrant(
            first_name=body.first_name,
            last_name=body.last_name,
            email=str(body.email),
            organisation=body.organisation,
            attendance=body.attendance,
            language=body.language,
            needs=body.needs,
        )
        accepted = accept(event_id, registrant, now)
        token, digest = new_manage_token()
        try:
            await deps.registrations.add(accepted, needs=registrant.needs, token_digest=digest)
        except AlreadyRegisteredError:
            REFUSALS.labels("already_registered").inc()
            raise Problem(
                409,
                "already-registered",
                "Already registered",
                "This email address is already registered for this event.",
            ) from None
        deps.relay.notify(REGISTRATION_COLLECTION, str(accepted.registration_id))
        REGISTRATIONS.labels(registrant.attendance.value).inc()
        registration_id = accepted.registration_id
        response.headers.update(NO_STORE)
        response.headers["Location"] = deps.settings.public_url(
            f"/api/v1/registrations/{registration_id}"
        )
        return RegistrationReceipt(id=registration_id, status=Status.ACCEPTED, manage_token=token)

    @router.get(
        "/registrations/{registration_id}",
        response_model=RegistrationView,
        summary="Show one's own registration and its state",
        description="With `Authorization: Bearer <manage_token>`, or the token of the manage "
        "link in the registrant's emails. A wrong token and an unknown id get the same 404.",
        responses=problem_responses(401, 404),
    )
    async def show_registration(
        registration_id: str, credentials: ManageCredentials, response: Response
    ) -> RegistrationView:
        registration = await _own(deps, registration_id, credentials)
        response.headers.update(NO_STORE)
        return view(registration)

    @router.delete(
        "/registrations/{registration_id}",
        response_model=RegistrationView,
        summary="Cancel one's own registration",
        description="With the manage_token or the manage link's token, as for GET. Possible "
        "until the event starts, also after registration has closed. Publishes "
        "`registration.cancelled` once; repeating the request is harmless and answers the same.",
        responses=problem_responses(
            401, 404, _409="The event has started (`/problems/event-started`)."
        ),
    )
    async def cancel_registration(
        registration_id: str, credentials: ManageCredentials, response: Response
    ) -> RegistrationView:
        registration = await _own(deps, registration_id, credentials)
        decision = await cancel(deps, registration)
        if decision is None:
            raise not_found()
        if decision is Cancellation.EVENT_STARTED:
            raise Problem(
                409,
                "event-started",
                "The event has started",
                "A registration can be cancelled only until the event starts.",
            )
        current = await deps.registrations.get(registration.id)
        response.headers.update(NO_STORE)
        return view(current or registration)

    return router


def _require_open(event: StoredEvent, now: datetime) -> None:
    spec = shown_in_zone(event.spec)
    window = registration_window(spec.registration_opens_at, spec.registration_closes_at, now)
    if window is RegistrationWindow.NOT_YET_OPEN:
        REFUSALS.labels("not_yet_open").inc()
        raise Problem(
            409,
            "registration-closed",
            "Registration is closed",
            f"Registration opens at {spec.registration_opens_at.isoformat()}.",
        )
    if window is RegistrationWindow.CLOSED:
        REFUSALS.labels("closed").inc()
        raise Problem(
            409,
            "registration-closed",
            "Registration is closed",
            f"Registration closed at {spec.registration_closes_at.isoformat()}.",
        )


async def _own(
    deps: Dependencies, registration_id: str, credentials: ManageCredentials
) -> StoredRegistration:
    """The registration the presented manage token belongs to; 404 for anything else."""
    if credentials is None:
        raise unauthorized()
    registration = (
        await deps.registrations.get(registration_id) if is_uuid(registration_id) else None
    )
    digest = registration.token_digest if registration is not None else None
    # Both checks always run, each in constant time: which token was presented,
    # and whether the id exists, take the same time to find out.
    random_token = manage_token_matches(credentials, digest)
    link_token = deps.manage_links.matches(registration_id, credentials.credentials)
    if registration is None or not (random_token or link_token):
        raise not_found()
    return registration


async def cancel(deps: Dependencies, registration: StoredRegistration) -> Cancellation | None:
    """Cancel as the registrant asked: what was decided, or None if the event is gone.

    The one path for ``DELETE /api/v1/registrations/{id}`` and the manage
    page's form: a registration not yet cancelled is cancelled with one
    conditional write that records ``registration.cancelled``; a repeat
    changes nothing; after the event started nothing changes either.
    """
    event = await deps.events.get(registration.event_id)
    if event is None:
        return None
    now = deps.now()
    decision = decide_cancellation(registration.state.cancelled, event.spec.starts_at, now)
    if decision is Cancellation.CANCEL and await deps.registrations.cancel(registration, now):
        deps.relay.notify(REGISTRATION_COLLECTION, registration.id)
        CANCELLATIONS.inc()
    return decision


def is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def summary(registration: StoredRegistration) -> RegistrationSummary:
    state = registration.state
    registrant = registration.registrant
    return RegistrationSummary(
        id=uuid.UUID(registration.id),
        event_id=registration.event_id,
        status=state.status,
        waitlist_position=state.waitlist_position,
        stream_link_provisioned=state.stream_link_provisioned,
        attendance=registrant.attendance,
        language=registrant.language,
        first_name=registrant.first_name,
        last_name=registrant.last_name,
        email=registrant.email,
        organisation=registrant.organisation,
        needs=registrant.needs,
        registered_at=registration.registered_at,
        cancelled_at=registration.cancelled_at,
    )


def view(registration: StoredRegistration) -> RegistrationView:
    state = registration.state
    return RegistrationView(
        **summary(registration).model_dump(),
        stream_link_url=state.link.url if state.stream_link_provisioned else None,
    )
