"""The sample seminar `make run` creates, on a Friday to come: prints the API request body.

``sample-event.json`` holds the seminar of the announcement Ilmo was made
for, with its times as wall-clock times (``"09:05"``) and no dates. This puts
them on the first Friday at least four weeks ahead that is a working day
in Finland (not Good Friday, Midsummer Eve, Christmas Eve, ...), in the event's zone,
with registration open from today until a week before (16.00), as the
announcement had it, so that the seminar is always open for registration
when someone tries Ilmo.

    python deploy/local/sample_event.py [TODAY]   # TODAY as YYYY-MM-DD, for tests
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays

TEMPLATE = Path(__file__).with_name("sample-event.json")
FRIDAY = 4
LEAD_DAYS = 28
REGISTRATION_CLOSES = time(16, 0)


def seminar_day(today: date) -> date:
    """The first Friday at least ``LEAD_DAYS`` after ``today`` that is not a Finnish holiday."""
    earliest = today + timedelta(days=LEAD_DAYS)
    day = earliest + timedelta(days=(FRIDAY - earliest.weekday()) % 7)
    finnish_holidays = holidays.country_holidays("FI", years=range(day.year, day.year + 2))
    while day in finnish_holidays:
        day += timedelta(days=7)
    return day


def sample_event(today: date, template: Path = TEMPLATE) -> dict[str, Any]:
    """The request body creating the sample seminar, dated from ``today``."""
    event: dict[str, Any] = json.loads(template.read_text(encoding="utf-8"))
    zone = ZoneInfo(event["timezone"])
    day = seminar_day(today)

    def at(wall_clock: str, on: date = day) -> str:
        return datetime.combine(on, time.fromisoformat(wall_clock), zone).isoformat()

    event["starts_at"] = at(event["starts_at"])
    event["ends_at"] = at(event["ends_at"])
    for block in event["agenda"]:
        block["starts_at"] = at(block["starts_at"])
        block["ends_at"] = at(block["ends_at"])
    event["registration_opens_at"] = at("00:00", today)
    event["registration_closes_at"] = at(
        REGISTRATION_CLOSES.isoformat("minutes"), day - timedelta(days=7)
    )
    return event


def main() -> None:
    today = date.fromisoformat(sys.argv[1]) if len(sys.argv) > 1 else date.today()
    json.dump(sample_event(today), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
