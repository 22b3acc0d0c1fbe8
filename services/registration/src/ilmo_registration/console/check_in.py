"""The door's check-in page: scan a QR code, type its code, or find a person by name.

``CHECK_IN`` (door staff and organisers). Built for a phone held in one
hand: the result first, large, in words and an icon as well as colour,
in a live region; then the scanner, the code field and the name search.
Every form works without JavaScript (a POST answered with the page and
its result); ``static/check-in.js`` adds the camera (the browser's
``BarcodeDetector``, else the vendored jsQR decoder, loaded only then), a
"scan a photo" file input, and sends the forms in the background so that
the page stays where it is and a lost connection is said in the result
panel. Check-in needs a connection: the page says so. What is shown of a
person is their name and where they stand, never an address.

Each lookup that shows a person (a code or a name's button) is recorded in
the audit trail (``check-in``, with how and what the door was told); a name
search itself is not (it shows names only, as the list of registrations
without personal data would).
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures.
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ilmo_event_contracts import CheckInMethod, Language
from ilmo_registration.attendance import CheckInOutcome, SeatSituation
from ilmo_registration.audit import Action, AuditTrail
from ilmo_registration.audit_details import check_in as check_in_detail
from ilmo_registration.console.pages import console_page, text
from ilmo_registration.console.registration_views import STATUS_NAMES
from ilmo_registration.console.registrations import not_found_page
from ilmo_registration.console.session import ConsoleSessions, submitted_form
from ilmo_registration.domain import Refused, Status, is_registration_id
from ilmo_registration.door import CheckInResult, Door
from ilmo_registration.listing import ListingRow
from ilmo_registration.page_language import of_request
from ilmo_registration.rendering import check_in_script, jsqr_license, jsqr_script
from ilmo_registration.storage import StoredEvent
from ilmo_shared.access import Permission, Principal
from ilmo_shared.http.problems import ProblemRoute
from ilmo_shared.i18n import _
from ilmo_shared.localized_time import format_datetime, format_time, local

HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
SCRIPT_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}
# The door's list shows events that end no longer ago than this.
RECENT = timedelta(days=1)

HEADINGS = {
    CheckInOutcome.CHECKED_IN: _("Checked in: %(name)s"),
    CheckInOutcome.ALREADY_CHECKED_IN: _("Already checked in at %(time)s: %(name)s"),
    CheckInOutcome.NOT_REGISTERED: _("Not registered for this event"),
    CheckInOutcome.CANCELLED: _("Registration cancelled: %(name)s"),
    CheckInOutcome.NO_SEAT: _("No seat: %(name)s"),
}
SEAT_TEXTS = {
    SeatSituation.WAITLISTED: _("On the waiting list, without a seat."),
    SeatSituation.REMOTE: _("Registered to watch remotely, without a seat."),
    SeatSituation.UNDECIDED: _("Registered on site, but no seat has been confirmed yet."),
}
OUTCOME_TEXTS = {
    CheckInOutcome.NOT_REGISTERED: _(
        "The code is not valid for this event, or the registration was never confirmed."
    ),
    CheckInOutcome.CANCELLED: _("Do not let in as a registrant: the registration was cancelled."),
    CheckInOutcome.ALREADY_CHECKED_IN: _(
        "This registration has been checked in before. The same code cannot let two people in."
    ),
    CheckInOutcome.NO_SEAT: _(
        "Nothing was recorded. Let the person in only if there are free seats, then check "
        "them in anyway."
    ),
}


@dataclass(frozen=True)
class ResultView:
    """The result panel: its tone (``ok``, ``warning``, ``refused``), heading and texts."""

    tone: str
    heading: str
    texts: list[str]
    registration_id: str | None
    method: str
    offer_anyway: bool


def check_in_router(door: Door, sessions: ConsoleSessions, audit: AuditTrail) -> APIRouter:
    router = APIRouter(tags=["console"], route_class=ProblemRoute)
    doorman = sessions.requires(Permission.CHECK_IN)

    async def event_of(event_id: str) -> StoredEvent | None:
        try:
            return await door.event(event_id)
        except Refused:
            return None

    @router.get(
        "/console/check-in",
        response_class=HTMLResponse,
        summary="The console: events to check people in at (HTML)",
        responses={200: HTML},
    )
    async def events(request: Request, _principal: Annotated[Principal, doorman]) -> Response:
        now = door.usecases.now()
        language = of_request(request).language
        listed = [
            stored
            for stored in await door.usecases.list_events(admin=True)
            if stored.spec.ends_at >= now - RECENT
        ]
        listed.sort(key=lambda stored: stored.spec.starts_at)
        return console_page(
            request,
            "console/check_in_events.html",
            title=text(request, _("Check-in at the door")),
            section="check-in",
            events=[
                (
                    stored.id,
                    stored.spec.title.in_language(language),
                    format_datetime(stored.spec.starts_at, stored.spec.timezone, language),
                )
                for stored in listed
            ],
        )

    @router.get(
        "/console/events/{event_id}/check-in",
        response_class=HTMLResponse,
        summary="The console: the door's check-in page of an event (HTML)",
        responses={200: HTML},
    )
    async def page(
        request: Request,
        event_id: str,
        principal: Annotated[Principal, doorman],
        q: str | None = None,
    ) -> Response:
        stored = await event_of(event_id)
        if stored is None:
            return not_found_page(request)
        return await _page(request, stored, principal, None, q or "")

    @router.post(
        "/console/events/{event_id}/check-in",
        response_class=HTMLResponse,
        summary="The console: check a person in, by code or from a name search (HTML form)",
        responses={200: HTML},
    )
    async def check_in(
        request: Request, event_id: str, principal: Annotated[Principal, doorman]
    ) -> Response:
        stored = await event_of(event_id)
        if stored is None:
            return not_found_page(request)
        form = submitted_form(request)
        registration_id = form.get("registration_id", "").strip()
        code = form.get("code", "").strip()
        without_seat = form.get("without_seat") == "1"
        if registration_id and is_registration_id(registration_id):
            given = form.get("method")
            method = CheckInMethod(given) if given in tuple(CheckInMethod) else CheckInMethod.SEARCH
            result = await door.check_in(
                event_id, registration_id, method, without_seat=without_seat
            )
        elif code:
            method = CheckInMethod.QR
            result = await door.check_in_code(event_id, code)
        else:
            return await _page(request, stored, principal, None, form.get("q", ""))
        if result.registration_id is not None:
            await audit.record(
                principal,
                Action.CHECKED_IN,
                event_id=event_id,
                registration_id=result.registration_id,
                detail=check_in_detail(method.value, result.outcome.value),
            )
        view = _result_view(request, stored, result, method)
        return await _page(request, stored, principal, view, form.get("q", ""))

    async def _page(
        request: Request,
        stored: StoredEvent,
        principal: Principal,
        result: ResultView | None,
        q: str,
    ) -> Response:
        language = of_request(request).language
        found = await door.search(stored.id, q)
        figures = await door.figures(stored.id)
        return console_page(
            request,
            "console/check_in.html",
            title=text(request, _("Check-in")),
            section="check-in",
            event=stored,
            event_title=stored.spec.title.in_language(language),
            may_read_events=principal.may(Permission.READ_EVENTS),
            figures=figures,
            capacity=stored.spec.in_person_capacity,
            result=result,
            q=q[:200],
            found=found,
            searched=bool(q.strip()),
            statuses=STATUS_NAMES,
            checked_in_time=lambda row: _time(row.checked_in_at, stored, language),
            offer_check_in=_may_check_in,
            check_in_script=True,
        )

    @router.get(
        "/static/check-in.js",
        summary="The check-in page's scanner script",
        response_class=Response,
        responses={200: {"content": {"text/javascript": {"schema": {"type": "string"}}}}},
    )
    async def script() -> Response:
        return Response(check_in_script(), media_type="text/javascript", headers=SCRIPT_HEADERS)

    @router.get(
        "/static/vendor/jsqr/jsQR.min.js",
        summary="jsQR 1.4.0, the QR decoder of browsers without BarcodeDetector (Apache-2.0)",
        response_class=Response,
        responses={200: {"content": {"text/javascript": {"schema": {"type": "string"}}}}},
    )
    async def decoder() -> Response:
        return Response(jsqr_script(), media_type="text/javascript", headers=SCRIPT_HEADERS)

    @router.get(
        "/static/vendor/jsqr/LICENSE",
        summary="jsQR's licence (Apache-2.0)",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def decoder_license() -> Response:
        return Response(jsqr_license(), media_type="text/plain; charset=utf-8")

    return router


def _may_check_in(row: ListingRow) -> bool:
    """A name's button: not for someone checked in already, nor for a cancelled or unconfirmed one
    (the button would only say so; the row says it already)."""
    return row.checked_in_at is None and row.status not in (
        Status.CANCELLED,
        Status.PENDING_CONFIRMATION,
    )


def _time(at: datetime | None, stored: StoredEvent, language: Language) -> str:
    """E.g. ``9.02``: on the event's wall clock, as the door sees it."""
    if at is None:
        return ""
    return format_time(local(at, stored.spec.timezone), language)


def _result_view(
    request: Request, stored: StoredEvent, result: CheckInResult, method: CheckInMethod
) -> ResultView:
    """What the result panel says about ``result``, in the reader's language."""
    language = of_request(request).language
    outcome = result.outcome
    at = _time(result.checked_in_at, stored, language)
    heading = text(request, HEADINGS[outcome], name=result.name, time=at)
    texts: list[str] = []
    seat = result.decision.seat
    if outcome is CheckInOutcome.CHECKED_IN:
        tone = "ok"
        if result.without_seat and seat is not None and seat in SEAT_TEXTS:
            tone = "warning"
            texts.append(text(request, _("Checked in without a seat.")))
            texts.append(text(request, SEAT_TEXTS[seat]))
    elif outcome is CheckInOutcome.NO_SEAT:
        tone = "warning"
        if seat is not None and seat in SEAT_TEXTS:
            texts.append(text(request, SEAT_TEXTS[seat]))
        texts.append(text(request, OUTCOME_TEXTS[outcome]))
    else:
        tone = "refused"
        texts.append(text(request, OUTCOME_TEXTS[outcome]))
    return ResultView(
        tone=tone,
        heading=heading,
        texts=texts,
        registration_id=result.registration_id,
        method=method.value,
        offer_anyway=outcome is CheckInOutcome.NO_SEAT,
    )
