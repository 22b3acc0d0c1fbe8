"""What the console's registration screens show, worked out before a template sees it. No I/O.

The list's addresses (``listing_href``: every search, filter, order and page
is in the URL, so a view can be bookmarked and shared), its sortable
columns (``SortColumn``: a link that orders by the column, or reverses the
order it already has, and the ``aria-sort`` that tells a screen reader), the
paging links, and the words for statuses, attendance, languages and the
history's changes (gettext messages, translated by the page).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from ilmo_event_contracts import Attendance, Audience, Language
from ilmo_registration.console.other_services import EventFigures
from ilmo_registration.domain import Status
from ilmo_registration.history import Change
from ilmo_registration.listing import ListingPage, ListingQuery, Sort, SortKey
from ilmo_shared.i18n import _

STATUS_NAMES: Mapping[Status, str] = {
    Status.PENDING_CONFIRMATION: _("Address not confirmed"),
    Status.ACCEPTED: _("Accepted, seat or link on the way"),
    Status.SEAT_RESERVED: _("Seat reserved"),
    Status.WAITLISTED: _("On the waiting list"),
    Status.REMOTE: _("Remote, link sent"),
    Status.CANCELLED: _("Cancelled"),
}
ATTENDANCE_NAMES: Mapping[Attendance, str] = {
    Attendance.IN_PERSON: _("On site"),
    Attendance.REMOTE: _("Remotely"),
}
# Whom a message or a reminder goes to.
AUDIENCE_NAMES: Mapping[Audience, str] = {
    Audience.ALL: _("Everyone registered"),
    Audience.ON_SITE: _("Those with a seat on site"),
    Audience.REMOTE: _("Those following the stream"),
    Audience.WAITING_LIST: _("The waiting list"),
    Audience.STREAM: _("The stream's audience: remote and waiting list"),
}
# Each language in its own name, as language choices are written.
LANGUAGE_NAMES: Mapping[Language, str] = {
    Language.FI: "suomi",
    Language.SV: "svenska",
    Language.EN: "English",
}
CHANGE_NAMES: Mapping[Change, str] = {
    Change.SUBMITTED: _("Registered; address waiting for confirmation"),
    Change.ACCEPTED: _("Registration accepted"),
    Change.EXPIRED: _("Address never confirmed; registration expired"),
    Change.CANCELLED: _("Cancelled"),
    Change.SWITCHED_TO_IN_PERSON: _("Switched to attending on site"),
    Change.SWITCHED_TO_REMOTE: _("Switched to attending remotely"),
    Change.DETAILS_CORRECTED: _("Details corrected"),
    Change.WAITLISTED: _("Put on the waiting list"),
    Change.SEAT_RESERVED: _("Seat reserved"),
    Change.SEAT_RELEASED: _("Seat given up"),
    Change.WAITLIST_LEFT: _("Left the waiting list"),
    Change.LINK_PROVISIONED: _("Stream link sent"),
    Change.LINK_REVOKED: _("Stream link revoked"),
    Change.ERASED: _("Personal data erased"),
}
# The mails' kinds, as the notification service names them.
MAIL_KINDS: Mapping[str, str] = {
    "confirm_address": _("Confirm your address"),
    "registration_received": _("Registration received"),
    "already_registered": _("Already registered"),
    "manage_link": _("Link asked for again"),
    "seat_confirmed": _("Seat confirmed"),
    "waitlisted": _("On the waiting list"),
    "stream_link": _("Stream link"),
    "cancellation_confirmed": _("Cancellation confirmed"),
    "reminder": _("Reminder"),
    "event_changed": _("Change notice"),
    "event_cancelled": _("Cancellation notice"),
    "organiser_message": _("Message from the organiser"),
    "thank_you": _("Thank-you mail"),
}
SORT_NAMES: Mapping[SortKey, str] = {
    SortKey.NAME: _("Name"),
    SortKey.REGISTERED_AT: _("Registered at"),
    SortKey.STATUS: _("Status"),
}


def query_parameters(query: ListingQuery) -> dict[str, str]:
    """The query as URL parameters, leaving out what is the default."""
    parameters = {
        "q": query.q,
        "status": query.status.value if query.status else "",
        "attendance": query.attendance.value if query.attendance else "",
        "language": query.language.value if query.language else "",
        "sort": "" if query.sort == Sort() else str(query.sort),
        "page": "" if query.page == 1 else str(query.page),
    }
    return {name: value for name, value in parameters.items() if value}


def listing_href(event_id: str, query: ListingQuery) -> str:
    parameters = query_parameters(query)
    base = f"/console/events/{event_id}/registrations"
    return f"{base}?{urlencode(parameters)}" if parameters else base


@dataclass(frozen=True)
class SortColumn:
    """A sortable column header: its name (a msgid), its link and its ``aria-sort``."""

    key: SortKey
    name: str
    href: str
    aria_sort: str | None


def sort_columns(event_id: str, query: ListingQuery) -> dict[str, SortColumn]:
    """Each sortable column's header; following a link starts again from page 1."""
    columns = {}
    for key, name in SORT_NAMES.items():
        current = query.sort.key is key
        descending = not query.sort.descending if current else False
        target = replace(query, sort=Sort(key, descending), page=1)
        aria = ("descending" if query.sort.descending else "ascending") if current else None
        columns[key.value] = SortColumn(key, name, listing_href(event_id, target), aria)
    return columns


@dataclass(frozen=True)
class Paging:
    previous: str | None
    next: str | None
    page: int
    pages: int


def paging(event_id: str, query: ListingQuery, page: ListingPage) -> Paging:
    def at(number: int) -> str:
        return listing_href(event_id, replace(query, page=number))

    return Paging(
        previous=at(page.page - 1) if page.page > 1 else None,
        next=at(page.page + 1) if page.page < page.pages else None,
        page=page.page,
        pages=page.pages,
    )


@dataclass(frozen=True)
class Figure:
    """One number at the top of a page: its label (a msgid) and its value as shown."""

    label: str
    value: str


SERVICE_NAMES: Mapping[str, str] = {
    "capacity": _("seats (capacity service)"),
    "notification": _("mails (notification service)"),
    "streaming": _("stream links (streaming service)"),
}


def figure_list(statuses: Mapping[Status, int], figures: EventFigures) -> list[Figure]:
    """The counts of the event, from this service and the others that answered."""
    shown: list[Figure] = []
    if figures.seats is not None:
        seats = figures.seats
        shown.append(Figure(_("Seats taken"), f"{seats.reserved} / {seats.capacity}"))
        shown.append(Figure(_("Seats free"), str(seats.free)))
    shown += [
        Figure(_("On the waiting list"), str(statuses.get(Status.WAITLISTED, 0))),
        Figure(_("Remote"), str(statuses.get(Status.REMOTE, 0))),
        Figure(_("Address not confirmed"), str(statuses.get(Status.PENDING_CONFIRMATION, 0))),
        Figure(_("Cancelled"), str(statuses.get(Status.CANCELLED, 0))),
    ]
    if figures.mails is not None:
        shown.append(Figure(_("Mails sent"), str(figures.mails.state("sent"))))
        shown.append(Figure(_("Mails failed"), str(figures.mails.state("failed"))))
    if figures.stream is not None:
        shown.append(Figure(_("Stream links sent"), str(figures.stream.provisioned)))
        shown.append(Figure(_("Stream joins"), str(figures.stream.joins)))
    return shown
