"""ilmo_shared.localized_time: dates and times in Finnish, Swedish and English."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ilmo_event_contracts import Language
from ilmo_shared.localized_time import (
    ENGLISH_MONTHS,
    WEEKDAYS_ESSIVE,
    WEEKDAYS_LONG,
    WEEKDAYS_SHORT,
    WeekdayStyle,
    at_time,
    format_date,
    format_datetime,
    format_local_span,
    format_span,
    format_time,
    format_time_span,
    local,
    weekday_name,
)

HELSINKI = "Europe/Helsinki"
WINTER = datetime(2027, 1, 29, 7, 0, tzinfo=UTC)  # Friday 9.00 in Helsinki (UTC+2)
SUMMER = datetime(2026, 9, 18, 6, 0, tzinfo=UTC)  # Friday 9.00 in Helsinki (UTC+3)


def test_the_names_are_complete_in_every_language() -> None:
    for names in (WEEKDAYS_SHORT, WEEKDAYS_LONG, WEEKDAYS_ESSIVE):
        assert set(names) == set(Language)
        for language in Language:
            assert len(names[language]) == 7
            assert len(set(names[language])) == 7
    assert len(ENGLISH_MONTHS) == 12
    assert (ENGLISH_MONTHS[0], ENGLISH_MONTHS[-1]) == ("January", "December")


def test_local_follows_helsinki_winter_and_summer_time() -> None:
    assert local(WINTER, HELSINKI).utcoffset() == timedelta(hours=2)
    assert local(SUMMER, HELSINKI).utcoffset() == timedelta(hours=3)
    assert (local(WINTER, HELSINKI).hour, local(SUMMER, HELSINKI).hour) == (9, 9)
    # The same instant given with another offset is the same wall-clock time.
    shifted = WINTER.astimezone(timezone(timedelta(hours=-5)))
    assert local(shifted, HELSINKI) == local(WINTER, HELSINKI)
    assert local(shifted, HELSINKI).hour == 9


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        (WeekdayStyle.SHORT, ("pe", "fre", "Fri")),
        (WeekdayStyle.LONG, ("perjantai", "fredag", "Friday")),
        (WeekdayStyle.ESSIVE, ("perjantaina", "fredag", "Friday")),
    ],
)
def test_weekdays_in_each_style(style: WeekdayStyle, expected: tuple[str, str, str]) -> None:
    friday = local(WINTER, HELSINKI)
    names = tuple(weekday_name(friday, language, style) for language in Language)
    assert names == expected
    sunday = friday + timedelta(days=2)
    assert weekday_name(sunday, Language.FI, WeekdayStyle.ESSIVE) == "sunnuntaina"
    assert weekday_name(sunday, Language.SV) == "sön"


@pytest.mark.parametrize(
    ("language", "short", "long"),
    [
        (Language.FI, "pe 29.1.2027", "perjantai 29.1.2027"),
        (Language.SV, "fre 29.1.2027", "fredag 29.1.2027"),
        (Language.EN, "Fri 29 January 2027", "Friday 29 January 2027"),
    ],
)
def test_dates_without_leading_zeros(language: Language, short: str, long: str) -> None:
    moment = local(WINTER, HELSINKI)
    assert format_date(moment, language) == short
    assert format_date(moment, language, WeekdayStyle.LONG) == long


@pytest.mark.parametrize(
    ("hour", "minute", "fi", "en", "fi_two_digit", "en_two_digit"),
    [
        (0, 0, "0.00", "0:00", "00.00", "00:00"),
        (0, 5, "0.05", "0:05", "00.05", "00:05"),
        (8, 30, "8.30", "8:30", "08.30", "08:30"),
        (23, 59, "23.59", "23:59", "23.59", "23:59"),
    ],
)
def test_times_point_in_finnish_and_swedish_colon_in_english(
    hour: int, minute: int, fi: str, en: str, fi_two_digit: str, en_two_digit: str
) -> None:
    moment = datetime(2027, 1, 29, hour, minute)
    assert format_time(moment, Language.FI) == fi
    assert format_time(moment, Language.SV) == fi
    assert format_time(moment, Language.EN) == en
    assert format_time(moment, Language.FI, two_digit_hour=True) == fi_two_digit
    assert format_time(moment, Language.EN, two_digit_hour=True) == en_two_digit


@pytest.mark.parametrize(
    ("language", "winter", "summer"),
    [
        (Language.FI, "pe 29.1.2027 klo 9.00", "pe 18.9.2026 klo 9.00"),
        (Language.SV, "fre 29.1.2027 kl. 9.00", "fre 18.9.2026 kl. 9.00"),
        (Language.EN, "Fri 29 January 2027, 9:00", "Fri 18 September 2026, 9:00"),
    ],
)
def test_date_and_time_in_helsinki_winter_and_summer(
    language: Language, winter: str, summer: str
) -> None:
    assert format_datetime(WINTER, HELSINKI, language) == winter
    assert format_datetime(SUMMER, HELSINKI, language) == summer


def test_at_time_joins_as_each_language_does() -> None:
    assert at_time("pe 29.1.2027", "9.00", Language.FI) == "pe 29.1.2027 klo 9.00"
    assert at_time("fre 29.1.2027", "9.00", Language.SV) == "fre 29.1.2027 kl. 9.00"
    assert at_time("Fri 29 January 2027", "9:00", Language.EN) == "Fri 29 January 2027, 9:00"


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (Language.FI, "pe 29.1.2027 klo 9.00\u201312.00"),
        (Language.SV, "fre 29.1.2027 kl. 9.00\u201312.00"),
        (Language.EN, "Fri 29 January 2027, 9:00\u201312:00"),
    ],
)
def test_a_span_within_one_day_names_the_day_once(language: Language, expected: str) -> None:
    assert format_span(WINTER, WINTER + timedelta(hours=3), HELSINKI, language) == expected


def test_a_span_over_midnight_names_both_days() -> None:
    starts = datetime(2027, 1, 29, 20, 0, tzinfo=UTC)  # 22.00 in Helsinki
    ends = datetime(2027, 1, 29, 22, 0, tzinfo=UTC)  # midnight, the next day
    assert format_span(starts, ends, HELSINKI, Language.FI) == (
        "pe 29.1.2027 klo 22.00 \u2013 la 30.1.2027 klo 0.00"
    )
    assert format_span(starts, ends, HELSINKI, Language.SV, WeekdayStyle.LONG) == (
        "fredag 29.1.2027 kl. 22.00 \u2013 lördag 30.1.2027 kl. 0.00"
    )
    # In UTC the same span stays on one day.
    assert format_span(starts, ends, "UTC", Language.EN) == "Fri 29 January 2027, 20:00\u201322:00"


def test_a_span_of_local_moments_is_not_converted() -> None:
    start = datetime(2026, 9, 11, 9, 0, tzinfo=timezone(timedelta(hours=3)))
    assert format_local_span(start, start + timedelta(hours=3), Language.EN, WeekdayStyle.LONG) == (
        "Friday 11 September 2026, 9:00\u201312:00"
    )


def test_time_spans_for_agenda_items() -> None:
    ends = SUMMER + timedelta(minutes=90)
    assert format_time_span(SUMMER, ends, HELSINKI, Language.FI) == "9.00\u201310.30"
    assert format_time_span(SUMMER, ends, HELSINKI, Language.SV) == "9.00\u201310.30"
    assert format_time_span(SUMMER, ends, HELSINKI, Language.EN) == "9:00\u201310:30"


def test_the_names_from_cldr_are_the_words_the_pages_and_mails_have_always_used() -> None:
    # Pinned word for word: a Babel upgrade that changed CLDR's names must fail here.
    assert WEEKDAYS_SHORT[Language.FI] == ("ma", "ti", "ke", "to", "pe", "la", "su")
    assert WEEKDAYS_SHORT[Language.SV] == ("mån", "tis", "ons", "tors", "fre", "lör", "sön")
    assert WEEKDAYS_SHORT[Language.EN] == ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    assert WEEKDAYS_LONG[Language.FI] == (
        "maanantai",
        "tiistai",
        "keskiviikko",
        "torstai",
        "perjantai",
        "lauantai",
        "sunnuntai",
    )
    assert WEEKDAYS_LONG[Language.SV] == (
        "måndag",
        "tisdag",
        "onsdag",
        "torsdag",
        "fredag",
        "lördag",
        "söndag",
    )
    assert WEEKDAYS_LONG[Language.EN][0] == "Monday"
    assert WEEKDAYS_ESSIVE[Language.FI] == (
        "maanantaina",
        "tiistaina",
        "keskiviikkona",
        "torstaina",
        "perjantaina",
        "lauantaina",
        "sunnuntaina",
    )
    assert WEEKDAYS_ESSIVE[Language.SV] == WEEKDAYS_LONG[Language.SV]
    assert WEEKDAYS_ESSIVE[Language.EN] == WEEKDAYS_LONG[Language.EN]
    assert ENGLISH_MONTHS[4:9] == ("May", "June", "July", "August", "September")
