"""The sample seminar `make run` creates: the announcement's event, valid, on a working Friday."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ilmo_registration.catalogue import violations
from ilmo_registration.schemas import EventCreate
from tests.support.sample_event import sample_event_script

HELSINKI = ZoneInfo("Europe/Helsinki")


@pytest.mark.parametrize("today", [date(2026, 12, 1), date(2027, 2, 23), date(2027, 5, 28)])
def test_the_sample_is_a_valid_event_open_for_registration_on_a_friday_to_come(
    today: date,
) -> None:
    body = sample_event_script().sample_event(today)
    event = EventCreate.model_validate(body)
    spec = event.to_spec()

    assert violations(spec) == []
    starts = spec.starts_at.astimezone(HELSINKI)
    assert starts.weekday() == 4
    assert (starts.hour, starts.minute) == (9, 0)
    assert spec.ends_at.astimezone(HELSINKI).hour == 12
    assert spec.registration_closes_at.astimezone(HELSINKI).date() == starts.date() - timedelta(
        days=7
    )
    noon = datetime.combine(today, datetime.min.time(), HELSINKI) + timedelta(hours=12)
    assert spec.registration_opens_at <= noon < spec.registration_closes_at


def test_the_sample_never_falls_on_a_finnish_holiday() -> None:
    # 2027-01-01 (New Year's Day) and 2027-03-26 (Good Friday) are Fridays.
    script = sample_event_script()
    assert script.seminar_day(date(2026, 12, 1)) == date(2027, 1, 8)
    assert script.seminar_day(date(2027, 2, 26)) == date(2027, 4, 2)


def test_the_sample_has_the_announcements_agenda() -> None:
    spec = EventCreate.model_validate(
        sample_event_script().sample_event(date(2026, 12, 1))
    ).to_spec()

    assert spec.title.fi.startswith("Yhteiset työympäristöt tulevat")
    first_phase = next(
        block for block in spec.agenda if block.title.fi.endswith("ensimmäinen vaihe")
    )
    assert [speaker.name for talk in first_phase.talks for speaker in talk.speakers] == [
        "Marko Puttonen",
        "Mette Vuola",
        "Niina Kemppi",
    ]
    assert spec.venue.name.sv == "Finansministeriet"
    assert spec.organiser is not None
    assert spec.organiser.name.fi == "Valtiovarainministeriö"
    assert all(group.sv and group.en for group in spec.target_groups)
