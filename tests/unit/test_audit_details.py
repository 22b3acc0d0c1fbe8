"""The audit trail's details: codes that any language reads, and the older English read too."""

from __future__ import annotations

import pytest

from ilmo_event_contracts import Attendance
from ilmo_registration import audit_details
from ilmo_registration.audit_details import Detail, DetailKind


@pytest.mark.parametrize(
    ("stored", "read"),
    [
        (audit_details.WITHOUT_PERSONAL_DATA, Detail(DetailKind.WITHOUT_PERSONAL_DATA)),
        (audit_details.export_format("xlsx"), Detail(DetailKind.FORMAT, ("xlsx",))),
        (audit_details.switched_to(Attendance.REMOTE), Detail(DetailKind.TO, ("remote",))),
        (audit_details.mail("stream_link"), Detail(DetailKind.MAIL, ("stream_link",))),
        (audit_details.duplicated_from("e-1"), Detail(DetailKind.FROM, ("e-1",))),
        (
            audit_details.fields_changed(["title", "venue"]),
            Detail(DetailKind.FIELDS, ("title", "venue")),
        ),
        (audit_details.notice_version("3f2a"), Detail(DetailKind.NOTICE_VERSION, ("3f2a",))),
        (audit_details.swept(2, 1, 5), Detail(DetailKind.SWEPT, ("2", "1", "5"))),
        (
            audit_details.check_in("qr", "already_checked_in"),
            Detail(DetailKind.DOOR, ("qr", "already_checked_in")),
        ),
    ],
)
def test_each_code_reads_back_as_written(stored: str, read: Detail) -> None:
    assert audit_details.read(stored) == read


@pytest.mark.parametrize(
    ("older", "read"),
    [
        ("without personal data", Detail(DetailKind.WITHOUT_PERSONAL_DATA)),
        ("csv", Detail(DetailKind.FORMAT, ("csv",))),
        ("to in_person", Detail(DetailKind.TO, ("in_person",))),
        ("registration_received", Detail(DetailKind.MAIL, ("registration_received",))),
        ("from e-1", Detail(DetailKind.FROM, ("e-1",))),
        ("version 3f2a", Detail(DetailKind.NOTICE_VERSION, ("3f2a",))),
        (
            "events 2, needs erased 1, registrations erased 5",
            Detail(DetailKind.SWEPT, ("2", "1", "5")),
        ),
    ],
)
def test_entries_written_before_the_codes_still_read(older: str, read: Detail) -> None:
    assert audit_details.read(older) == read


@pytest.mark.parametrize("other", ["title, venue", "something new", "to the moon", ""])
def test_anything_else_is_kept_as_it_is(other: str) -> None:
    assert audit_details.read(other) == Detail(None, raw=other)


def test_a_code_carries_no_prose() -> None:
    codes = [
        audit_details.WITHOUT_PERSONAL_DATA,
        audit_details.export_format("csv"),
        audit_details.switched_to(Attendance.IN_PERSON),
        audit_details.swept(0, 0, 0),
        audit_details.check_in("search", "no_seat"),
    ]
    assert all(" " not in code for code in codes)
