"""An event's registrations as the console lists them: search, filters, sort, pages. No I/O.

The rows come from the listing read model (``storage.listing``), one compact
row per registration; everything the console asks of them (a search, the
filters, an order, a page of ``PAGE_SIZE``) is decided here, in memory, so
that the database is read by ``_id`` only (docs/performance.md).

Search is case-insensitive and tolerant of accents: "makinen" finds
"Mäkinen", "ohman" "Öhman", "asa" "Åsa" (``search_key``), matching any part
of the first and last name, the address or the organisation.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from ilmo_event_contracts import Attendance, Language
from ilmo_registration.domain import Status

PAGE_SIZE = 50


@dataclass(frozen=True)
class ListingRow:
    """One registration as listed: who, how and where it stands; no needs, no token."""

    registration_id: str
    first_name: str
    last_name: str
    email: str
    organisation: str | None
    language: Language
    attendance: Attendance
    status: Status
    registered_at: datetime
    # A tombstone (personal data erased) or an unconfirmed registration that expired.
    erased: bool = False
    expired: bool = False
    # The registration document's revision this row was made from (newer rows win).
    revision: int = 0
    # When the door checked the person in, and when they first opened the stream.
    checked_in_at: datetime | None = None
    watched_at: datetime | None = None
    # ``searched`` as the read model stored it, so that a search folds no text.
    folded: str | None = field(default=None, compare=False)

    @property
    def searched(self) -> str:
        """What a search looks in, folded (``search_key``): names, address, organisation."""
        if self.folded is not None:
            return self.folded
        return search_key(
            " ".join((self.first_name, self.last_name, self.email, self.organisation or ""))
        )

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class SortKey(StrEnum):
    NAME = "name"
    REGISTERED_AT = "registered_at"
    STATUS = "status"


@dataclass(frozen=True)
class Sort:
    """An order of the listing: ``name``, ``-registered_at`` (descending), …"""

    key: SortKey = SortKey.REGISTERED_AT
    descending: bool = False

    @classmethod
    def parse(cls, text: str | None) -> Sort:
        """The order ``text`` names; the default (oldest first) for anything else."""
        if not text:
            return cls()
        descending = text.startswith("-")
        try:
            return cls(SortKey(text.removeprefix("-")), descending)
        except ValueError:
            return cls()

    def __str__(self) -> str:
        return f"-{self.key}" if self.descending else str(self.key)


@dataclass(frozen=True)
class ListingQuery:
    """What the console asks: a search, filters, an order and a page (1 = the first)."""

    q: str = ""
    status: Status | None = None
    attendance: Attendance | None = None
    language: Language | None = None
    sort: Sort = Sort()
    page: int = 1
    # False for a reader without the permission to read personal data: a
    # search then looks in the names only, so that it cannot tell whether an
    # address or an organisation registered.
    personal: bool = True


@dataclass(frozen=True)
class ListingParameters:
    """The listing's query parameters as the JSON API and the console take them (all optional).

    Text, as a form sends them: an empty or unknown filter (``status=`` from
    a select left at "any") means no filter, never an error.
    """

    q: str | None = None
    status: str | None = None
    attendance: str | None = None
    language: str | None = None
    sort: str | None = None
    page: int | None = None

    def plain(self) -> bool:
        """No search, filter, order or page: every registration, oldest first."""
        return all(not getattr(self, name) for name in self.__dataclass_fields__)

    def query(self, *, personal: bool = True) -> ListingQuery:
        return ListingQuery(
            personal=personal,
            q=(self.q or "")[:200],
            status=_member(Status, self.status),
            attendance=_member(Attendance, self.attendance),
            language=_member(Language, self.language),
            sort=Sort.parse(self.sort),
            page=self.page or 1,
        )


_E = TypeVar("_E", Status, Attendance, Language)


def _member(kind: type[_E], value: str | None) -> _E | None:
    try:
        return kind(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class ListingPage:
    rows: Sequence[ListingRow]
    # Registrations that match the search and the filters (every page together).
    total: int
    page: int
    pages: int
    # Every listed registration of the event by status, whatever the search and filters.
    statuses: Mapping[Status, int] = field(default_factory=dict)

    @property
    def everyone(self) -> int:
        return sum(self.statuses.values())


def search_key(text: str) -> str:
    """``text`` folded for search: lower case, accents and ä/ö/å as their base letters."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


def matches(row: ListingRow, query: ListingQuery) -> bool:
    """Whether ``row`` is listed for ``query``: an expired stub never is."""
    if row.expired:
        return False
    if query.status is not None and row.status is not query.status:
        return False
    if query.attendance is not None and row.attendance is not query.attendance:
        return False
    if query.language is not None and row.language is not query.language:
        return False
    needle = search_key(query.q)
    if not needle:
        return True
    return needle in (row.searched if query.personal else search_key(row.name))


# Statuses in the order a person reads down the list: the undecided first, the gone last.
_STATUS_ORDER = {
    status: n
    for n, status in enumerate(
        (
            Status.PENDING_CONFIRMATION,
            Status.ACCEPTED,
            Status.SEAT_RESERVED,
            Status.WAITLISTED,
            Status.REMOTE,
            Status.CANCELLED,
        )
    )
}


def _sort_key(key: SortKey) -> Callable[[ListingRow], tuple[object, ...]]:
    """The key of each order; ties are broken by time and id, so pages never overlap."""
    match key:
        case SortKey.NAME:
            return lambda row: (
                search_key(row.last_name),
                search_key(row.first_name),
                row.registered_at,
                row.registration_id,
            )
        case SortKey.STATUS:
            return lambda row: (_STATUS_ORDER[row.status], row.registered_at, row.registration_id)
        case _:
            return lambda row: (row.registered_at, row.registration_id)


def everything(rows: Sequence[ListingRow], query: ListingQuery) -> list[ListingRow]:
    """Every row ``query`` selects, in its order (no paging: for an export)."""
    chosen = [row for row in rows if matches(row, query)]
    chosen.sort(key=_sort_key(query.sort.key), reverse=query.sort.descending)
    return chosen


def select(rows: Sequence[ListingRow], query: ListingQuery) -> ListingPage:
    """The page ``query`` asks for; a page past the last is the last (an empty list: page 1)."""
    chosen = everything(rows, query)
    pages = max(1, math.ceil(len(chosen) / PAGE_SIZE))
    page = min(max(1, query.page), pages)
    start = (page - 1) * PAGE_SIZE
    statuses = Counter(row.status for row in rows if not row.expired)
    return ListingPage(chosen[start : start + PAGE_SIZE], len(chosen), page, pages, statuses)
