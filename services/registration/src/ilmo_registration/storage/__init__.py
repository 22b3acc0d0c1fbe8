"""The registration service's own database: the event catalogue and the registrations.

Every change and the event that announces it are one single-document write
(the document's ``outbox`` array), which the ``OutboxRelay`` publishes; the
store that writes an entry wakes the relay (``Outbox.written``).

``events``: one document per catalogue event, ``_id`` = event id, with a
``revision`` that grows with each change; its other fields are the
``EventSpec``'s, stored with ``model_dump`` and read with ``model_validate``
(an event stored before a field existed reads with that field's default).
``registrations``: one document per registration, ``_id`` = registration
id; ``status`` is its life as decided here (``domain.Standing``:
``pending_confirmation``, ``accepted``, ``cancelled``, ``expired``),
``seat`` and ``stream_link`` are what capacity and streaming reported; the
status a registrant sees is derived from the three
(``domain.RegistrationState``). A unique index on
``(event_id, email_key)`` makes "one registration per address and event" hold
under any concurrency, pending or accepted; a cancelled or expired
registration gives its key up. A pending registration that expired is kept
as a stub without personal data (names, address, organisation, needs are
removed in the same write that records ``registration.expired``), so that a
late confirmation can be told it expired and the expiry event is published
from the outbox like any other.

An erased registration (``RegistrationStore.erase``) stays as a tombstone
with what statistics need: its id, event, attendance, language, status,
seat and link states (the link's URL dropped), times, ``erased_at`` and
``erasure_reason``. Names, address, organisation, needs and the manage
token's digest are removed from the document (``PERSONAL_FIELDS``), and its
``email_key`` becomes a value of no address (``domain.erased_email_key``).
The event document records what the retention sweep has erased
(``needs_erased_at``, ``personal_data_erased_at``), so a finished event's
registrations are read once, not on every sweep.

FerretDB v1, the local and test server, applies an update by reading the
whole document and writing it back, so two concurrent updates of one
document can lose one of them (verified: of ten concurrent conditional
``$push`` updates, several report a modification and one survives). Writes to
one document are therefore serialized within the process (``DocumentLocks``,
shared with the relay's removal of published entries), and conditional
updates on ``revision`` (``VersionedDocuments``) guard against other
processes on MongoDB, where single-document updates are atomic.
"""

from ilmo_registration.storage.events import (
    ATTEMPTS,
    EVENT_COLLECTION,
    NEEDS_ERASED,
    PERSONAL_DATA_ERASED,
    EventStore,
    RetentionView,
    StoredEvent,
)
from ilmo_registration.storage.messages import MESSAGE_COLLECTION, MessageStore, StoredMessage
from ilmo_registration.storage.notices import (
    EVENT_NOTICE_COLLECTION,
    NOTICE_COLLECTION,
    PrivacyNoticeStore,
)
from ilmo_registration.storage.registrations import (
    ACTIVE,
    CANCELLED,
    EXPIRED,
    PENDING,
    PERSONAL_FIELDS,
    REGISTRATION_COLLECTION,
    Holder,
    RegistrationStore,
    ReportOutcome,
    StoredRegistration,
)

__all__ = [
    "ACTIVE",
    "ATTEMPTS",
    "CANCELLED",
    "EVENT_COLLECTION",
    "EVENT_NOTICE_COLLECTION",
    "EXPIRED",
    "MESSAGE_COLLECTION",
    "NEEDS_ERASED",
    "NOTICE_COLLECTION",
    "PENDING",
    "PERSONAL_DATA_ERASED",
    "PERSONAL_FIELDS",
    "REGISTRATION_COLLECTION",
    "EventStore",
    "Holder",
    "MessageStore",
    "PrivacyNoticeStore",
    "RegistrationStore",
    "ReportOutcome",
    "RetentionView",
    "StoredEvent",
    "StoredMessage",
    "StoredRegistration",
]
