"""Event catalogue rules, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ilmo_event_contracts import (
    AgendaItem,
    EventPublished,
    EventUpdated,
    LocalizedText,
    Venue,
    integration,
)
from ilmo_registration.catalogue import (
    DEFAULT_TIMEZONE,
    EventSpec,
    announcement,
    details,
    generated_event_id,
    is_event_id,
    normalised,
    shown_in_zone,
    violations,
    zone,
)

HELSINKI_SUMMER = timezone(timedelta(hours=3))
START = datetime(2026, 9, 11, 9, 0, tzinfo=HELSINKI_SUMMER)


def item(starts: datetime, ends: datetime) -> AgendaItem:
    return AgendaItem(starts_at=starts, ends_at=ends, title=LocalizedText(fi="Avaus"))


def seminar(**changes: object) -> EventSpec:
    spec = EventSpec(
        title=LocalizedText(fi="Tekoäly hallinnossa", sv="AI i förvaltningen"),
        description=None,
        starts_at=START,
        ends_at=START + timedelta(hours=3),
        timezone=DEFAULT_TIMEZONE,
        venue=Venue(name="Ministeriö", address="Snellmaninkatu 1"),
        in_person_capacity=40,
        registration_opens_at=START - timedelta(days=30),
        registration_closes_at=START - timedelta(days=7),
        stream_url="https://stream.example.fi/seminar",
        agenda=(
            item(START, START + timedelta(hours=1)),
            item(START + timedelta(hours=1), START + timedelta(hours=3)),
        ),
        published=True,
    )
    return spec.model_copy(update=changes)


def fields(spec: EventSpec) -> list[str]:
    return [violation.field for violation in violations(spec)]


def test_the_model_seminar_is_coherent() -> None:
    assert violations(seminar()) == []


def test_a_finnish_title_is_required() -> None:
    assert fields(seminar(title=LocalizedText(fi="  ", en="Only English"))) == ["title.fi"]
    assert fields(seminar(description=LocalizedText(fi=""))) == ["description.fi"]


def test_the_event_ends_after_it_starts() -> None:
    assert fields(seminar(ends_at=START, agenda=())) == ["ends_at"]
    assert "ends_at" in fields(seminar(ends_at=START - timedelta(minutes=1), agenda=()))


def test_registration_closes_before_the_event_ends_and_opens_before_it_closes() -> None:
    ends = START + timedelta(hours=3)
    assert fields(seminar(registration_closes_at=ends)) == ["registration_closes_at"]
    # Closing after the start (people may register for the second half) is allowed.
    assert fields(seminar(registration_closes_at=START + timedelta(hours=1))) == []
    closes = START - timedelta(days=7)
    assert fields(seminar(registration_opens_at=closes)) == ["registration_opens_at"]


def test_agenda_items_lie_inside_the_event_and_end_after_they_start() -> None:
    early = item(START - timedelta(minutes=30), START + timedelta(minutes=30))
    late = item(START + timedelta(hours=2), START + timedelta(hours=4))
    backwards = item(START + timedelta(hours=2), START + timedelta(hours=1))
    assert fields(seminar(agenda=(early, late, backwards))) == [
        "agenda.0.starts_at",
        "agenda.1.ends_at",
        "agenda.2.ends_at",
    ]


def test_capacity_stream_url_and_timezone() -> None:
    assert fields(seminar(in_person_capacity=-1)) == ["in_person_capacity"]
    assert fields(seminar(in_person_capacity=0)) == []
    for url in ("http://stream.example.fi/", "https://", "javascript:alert(1)", "stream"):
        assert fields(seminar(stream_url=url)) == ["stream_url"], url
    for name in ("Europe/Atlantis", "../../etc/passwd", "", "Europe/Helsinki/"):
        assert fields(seminar(timezone=name)) == ["timezone"], name
    assert fields(seminar(timezone="America/Port-au-Prince")) == []


def test_the_stream_window_is_from_zero_to_a_day_either_side() -> None:
    spec = seminar()
    assert (spec.stream_opens_minutes_before, spec.stream_closes_minutes_after) == (30, 120)
    for minutes in (0, 1440):
        assert fields(seminar(stream_opens_minutes_before=minutes)) == []
        assert fields(seminar(stream_closes_minutes_after=minutes)) == []
    for minutes in (-1, 1441):
        assert fields(seminar(stream_opens_minutes_before=minutes)) == [
            "stream_opens_minutes_before"
        ]
        assert fields(seminar(stream_closes_minutes_after=minutes)) == [
            "stream_closes_minutes_after"
        ]


def test_every_time_must_carry_an_offset() -> None:
    naive = datetime(2026, 9, 11, 9, 0)
    assert fields(seminar(starts_at=naive)) == ["starts_at"]
    assert fields(seminar(agenda=(item(naive, naive + timedelta(hours=1)),))) == [
        "agenda.0.starts_at",
        "agenda.0.ends_at",
    ]


def test_times_are_shown_in_the_events_zone_without_changing_the_instant() -> None:
    utc = seminar(starts_at=START.astimezone(UTC))
    shown = shown_in_zone(utc)
    assert shown.starts_at == START
    assert shown.starts_at.isoformat() == "2026-09-11T09:00:00+03:00"
    winter = shown_in_zone(seminar(starts_at=datetime(2026, 12, 1, 7, 0, tzinfo=UTC)))
    assert winter.starts_at.isoformat() == "2026-12-01T09:00:00+02:00"


def test_stored_times_keep_milliseconds_only() -> None:
    spec = normalised(seminar(starts_at=START.replace(microsecond=123_456)))
    assert spec.starts_at.microsecond == 123_000


def test_the_published_fact_carries_the_whole_event_in_its_zone() -> None:
    spec = seminar(starts_at=START.astimezone(UTC))
    published = details(EventPublished, "ministry-seminar", 1, spec)
    assert published.event_id == "ministry-seminar"
    assert published.revision == 1
    assert published.starts_at.isoformat() == "2026-09-11T09:00:00+03:00"
    assert published.in_person_capacity == 40
    assert published.stream_url == spec.stream_url
    assert len(published.agenda) == 2
    assert (published.stream_opens_minutes_before, published.stream_closes_minutes_after) == (
        30,
        120,
    )
    windowed = seminar(stream_opens_minutes_before=0, stream_closes_minutes_after=1440)
    published = details(EventPublished, "ministry-seminar", 2, windowed)
    assert (published.stream_opens_minutes_before, published.stream_closes_minutes_after) == (
        0,
        1440,
    )


def test_event_ids() -> None:
    assert is_event_id("ministry-seminar-2026")
    for bad in ("ab", "-leading", "Upper", "with space", "ä-event", "x" * 65):
        assert not is_event_id(bad), bad
    assert generated_event_id("Tekoäly hallinnossa / kevät!", "3f9a2c1d") == (
        "tekoaly-hallinnossa-kevat-3f9a2c1d"
    )
    assert generated_event_id("Ääöö", "00ff00ff") == "aaoo-00ff00ff"
    assert generated_event_id("!!!", "00ff00ff") == "event-00ff00ff"
    long = generated_event_id("a" * 200, "12345678")
    assert is_event_id(long)
    with pytest.raises(ValueError, match="suffix"):
        generated_event_id("title", "BAD SUFFIX")


def test_zone_lookup() -> None:
    assert zone("Europe/Helsinki") is not None
    assert zone("UTC") is not None
    assert zone("Not/AZone") is None


# ------------------------------------------------- what outside systems are told


def after(spec: EventSpec, revision: int = 2) -> EventUpdated:
    return details(EventUpdated, "seminar-2026", revision, spec)


def test_an_event_created_published_is_announced_as_published() -> None:
    created = details(EventPublished, "seminar-2026", 1, seminar())
    announced = announcement(None, created)
    assert isinstance(announced, integration.EventPublished)
    assert (announced.event_id, announced.revision) == ("seminar-2026", 1)
    assert announced.starts_at == START
    assert announced.in_person_capacity == 40


def test_a_draft_is_not_announced_when_created_nor_when_changed() -> None:
    draft = seminar(published=False)
    assert announcement(None, details(EventPublished, "seminar-2026", 1, draft)) is None
    changed = draft.model_copy(update={"in_person_capacity": 80})
    assert announcement(draft, after(changed)) is None


def test_publishing_a_draft_announces_it_as_published() -> None:
    announced = announcement(seminar(published=False), after(seminar(), revision=3))
    assert isinstance(announced, integration.EventPublished)
    assert announced.revision == 3


def test_a_change_to_a_published_event_is_an_update() -> None:
    announced = announcement(seminar(), after(seminar(in_person_capacity=80)))
    assert isinstance(announced, integration.EventUpdated)
    assert announced.in_person_capacity == 80


def test_a_published_event_made_a_draft_again_is_withdrawn() -> None:
    announced = announcement(seminar(), after(seminar(published=False), revision=5))
    assert announced == integration.EventWithdrawn(event_id="seminar-2026", revision=5)


def test_an_announcement_carries_no_stream_url_and_no_texts() -> None:
    announced = announcement(None, details(EventPublished, "seminar-2026", 1, seminar()))
    assert announced is not None
    body = announced.model_dump_json()
    for private in ("stream.example.fi", "Tekoäly", "Ministeriö", "Snellmaninkatu"):
        assert private not in body
