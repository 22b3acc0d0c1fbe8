"""The organiser's side of the event's life, without I/O: rules, input models, the form, clients."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from ilmo_event_contracts import (
    Audience,
    EventCancelled,
    EventUpdated,
    Language,
    LocalizedText,
    Reminder,
    integration,
)
from ilmo_registration.catalogue import (
    EventSpec,
    announcement,
    details,
    registration_closes,
    violations,
)
from ilmo_registration.console.event_form import ReminderForm, check, inputs, of_spec, read
from ilmo_registration.console.event_life import schedule_row, seats_view
from ilmo_registration.console.other_services import (
    OtherServices,
    ScheduleItem,
    SeatFigures,
    ServiceToken,
    Unavailable,
)
from ilmo_registration.domain import (
    EventCancellation,
    decide_event_cancellation,
    falls_back_to_finnish,
)
from ilmo_registration.schemas import (
    CancellationIn,
    EventCreate,
    EventFields,
    EventPatch,
    MessageIn,
)
from tests.support.registration import event_payload
from tests.support.sample_event import sample_event_script

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def fields(**changes: Any) -> dict[str, Any]:
    body = {k: v for k, v in event_payload(now=NOW).items() if k != "id"}
    return {**body, **changes}


def spec(**changes: Any) -> EventSpec:
    return EventFields.model_validate(fields(**changes)).to_spec()


def faults(model: type[Any], body: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(body)
    return [".".join(str(part) for part in error["loc"]) for error in raised.value.errors()]


# ----------------------------------------------------------------- input models


def test_a_new_event_has_the_default_reminders_cutoff_and_thank_you() -> None:
    made = spec()
    assert made.reminders == (
        Reminder(minutes_before=1440, audience=Audience.ALL),
        Reminder(minutes_before=30, audience=Audience.STREAM),
    )
    assert (made.promotion_cutoff_minutes, made.thank_you_minutes_after) == (120, 120)
    assert (made.feedback_url, made.recording_url, made.cancelled_at) == (None, None, None)


def test_the_new_fields_are_bounded_and_name_the_field_at_fault() -> None:
    assert faults(EventFields, fields(reminders=[{"minutes_before": 0}])) == [
        "reminders.0.minutes_before"
    ]
    assert faults(EventFields, fields(reminders=[{"minutes_before": 60, "audience": "x"}])) == [
        "reminders.0.audience"
    ]
    six = [{"minutes_before": n} for n in range(1, 7)]
    assert faults(EventFields, fields(reminders=six)) == ["reminders"]
    assert faults(EventFields, fields(promotion_cutoff_minutes=-1)) == ["promotion_cutoff_minutes"]
    assert faults(EventFields, fields(thank_you_minutes_after="120")) == ["thank_you_minutes_after"]
    # A client cannot cancel by writing the fields: that is the cancellation's own request.
    assert faults(EventFields, fields(cancelled_at=NOW.isoformat())) == ["cancelled_at"]
    assert EventFields.model_validate(fields(thank_you_minutes_after=None, reminders=[]))


def test_feedback_and_recording_addresses_must_be_https() -> None:
    found = violations(spec(feedback_url="http://palaute.example.fi", recording_url="ftp://x"))
    assert {v.field for v in found} == {"feedback_url", "recording_url"}
    assert violations(spec(feedback_url="https://palaute.example.fi/s")) == []
    assert spec(feedback_url="  ").feedback_url is None


def test_reminders_are_each_at_their_own_time() -> None:
    twice = [{"minutes_before": 60}, {"minutes_before": 60, "audience": "remote"}]
    found = violations(spec(reminders=twice))
    assert [v.field for v in found] == ["reminders.1.minutes_before"]


def test_a_patch_keeps_the_new_fields_and_the_cancellation() -> None:
    cancelled = spec(
        reminders=[{"minutes_before": 90}], feedback_url="https://palaute.example.fi"
    ).model_copy(update={"cancelled_at": NOW, "cancellation_note": LocalizedText(fi="Peruttu")})
    patched = EventPatch.model_validate({"in_person_capacity": 3}).patched(cancelled)
    assert patched.reminders == (Reminder(minutes_before=90),)
    assert patched.feedback_url == "https://palaute.example.fi"
    assert (patched.cancelled_at, patched.cancellation_note) == (
        NOW,
        LocalizedText(fi="Peruttu"),
    )
    cleared = EventPatch.model_validate({"thank_you_minutes_after": None, "reminders": []})
    assert cleared.patched(cancelled).thank_you_minutes_after is None
    assert cleared.patched(cancelled).reminders == ()


def test_a_cancellation_note_needs_finnish_and_a_message_needs_finnish_texts() -> None:
    assert faults(CancellationIn, {"note": {"sv": "Inställt"}}) == ["note.fi"]
    assert CancellationIn.model_validate({}).localized_note() is None
    note = CancellationIn.model_validate({"note": {"fi": "Peruttu", "en": "Cancelled"}})
    assert note.localized_note() == LocalizedText(fi="Peruttu", en="Cancelled")

    message = {"audience": "remote", "title": {"fi": "Hei"}, "body": {"fi": "Teksti"}}
    assert MessageIn.model_validate(message).localized()[0] == LocalizedText(fi="Hei")
    assert faults(MessageIn, {**message, "title": {"sv": "Hej"}}) == ["title.fi"]
    assert faults(MessageIn, {**message, "title": {"fi": "x" * 201}}) == ["title.fi"]
    assert faults(MessageIn, {**message, "body": {"fi": "x" * 5001}}) == ["body.fi"]


# ------------------------------------------------------------------ rules


def test_an_event_is_cancelled_once_and_a_draft_not_at_all() -> None:
    assert decide_event_cancellation(published=True, cancelled=False) is EventCancellation.CANCEL
    assert decide_event_cancellation(published=True, cancelled=True) is EventCancellation.ALREADY
    assert decide_event_cancellation(published=False, cancelled=True) is EventCancellation.ALREADY
    assert decide_event_cancellation(published=False, cancelled=False) is EventCancellation.DRAFT


def test_registration_closes_in_effect_when_the_event_is_cancelled() -> None:
    made = spec()
    assert registration_closes(made) == made.registration_closes_at
    early = made.registration_opens_at
    cancelled = made.model_copy(update={"cancelled_at": early})
    assert registration_closes(cancelled) == early
    late = made.model_copy(update={"cancelled_at": made.ends_at})
    assert registration_closes(late) == made.registration_closes_at


def test_outside_systems_are_told_of_a_cancellation_without_the_note() -> None:
    before = spec()
    after = before.model_copy(
        update={"cancelled_at": NOW, "cancellation_note": LocalizedText(fi="Sairastapaus")}
    )
    fact = details(EventCancelled, "seminaari", 3, after)
    told = announcement(before, fact)
    assert told == integration.EventCancelled(event_id="seminaari", revision=3, cancelled_at=NOW)
    assert "Sairastapaus" not in told.model_dump_json()
    # An ordinary change is still event.updated.
    changed = announcement(before, details(EventUpdated, "seminaari", 2, before))
    assert isinstance(changed, integration.EventUpdated)


def test_the_languages_that_fall_back_to_finnish_are_named() -> None:
    title = LocalizedText(fi="Hei", sv="Hej", en="Hello")
    assert falls_back_to_finnish(title, LocalizedText(fi="a", sv="b", en="c")) == []
    assert falls_back_to_finnish(title, LocalizedText(fi="a", sv="b")) == [Language.EN]
    assert falls_back_to_finnish(LocalizedText(fi="Hei"), LocalizedText(fi="a")) == [
        Language.SV,
        Language.EN,
    ]


# ------------------------------------------------------------------ the form


def test_reminders_are_typed_in_the_largest_whole_unit_and_read_back_in_minutes() -> None:
    assert ReminderForm.of(Reminder(minutes_before=2880)) == ReminderForm("2", "days", "all")
    assert ReminderForm.of(Reminder(minutes_before=90, audience=Audience.REMOTE)) == (
        ReminderForm("90", "minutes", "remote")
    )
    body: dict[str, Any] = sample_event_script().sample_event(date(2026, 12, 1))
    body.update(
        reminders=[{"minutes_before": 2880}, {"minutes_before": 120, "audience": "stream"}],
        thank_you_minutes_after=None,
        recording_url="https://tallenne.example.fi/1",
        promotion_cutoff_minutes=45,
    )
    stored = EventCreate.model_validate(body).to_spec()
    form = read(inputs(of_spec(stored, "seminaari")))
    assert form.reminders[1] == ReminderForm("2", "hours", "stream")
    assert form.thank_you is False
    checked = check(form)
    assert checked.errors == []
    assert checked.event is not None
    assert checked.event.to_spec() == stored


def test_a_reminder_without_a_number_is_an_error_at_its_input_and_a_blank_one_is_dropped() -> None:
    stored = spec()
    sent = inputs(of_spec(stored, "seminaari"))
    sent.update({"reminders.0.amount": "huomenna", "reminders.1.amount": ""})
    checked = check(read(sent))
    assert [(e.field, e.message) for e in checked.errors] == [
        ("reminders.0.amount", "enter a whole number")
    ]
    sent.update({"reminders.0.amount": "1", "reminders.0.unit": "weeks"})
    assert [e.field for e in check(read(sent)).errors] == ["reminders.0.unit"]


# ---------------------------------------------------------- notification's answers


def services(answer: Any) -> OtherServices:
    def answering(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("openid-configuration"):
            return httpx.Response(200, json={"token_endpoint": "http://idp.test/token"})
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 300})
        result: httpx.Response = answer(request)
        return result

    token = ServiceToken("http://idp.test", "ilmo-console", "secret")
    return OtherServices(
        token, "http://c.test", "http://n.test", "http://s.test", httpx.MockTransport(answering)
    )


async def test_the_console_reads_notifications_audience_progress_and_schedule() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1/events/seminaari/audience":
            assert request.url.params["audience"] == "on_site"
            return httpx.Response(200, json={"recipients": 12})
        if path.startswith("/api/v1/messages/known"):
            body = {
                "state": "sending",
                "recipients": 12,
                "sent": 4,
                "failed": 1,
                "pending": 6,
                "skipped": 1,
            }
            return httpx.Response(200, json=body)
        if path.startswith("/api/v1/messages/"):
            return httpx.Response(404, json={})
        if path == "/api/v1/events/seminaari/schedule":
            items = [
                {"key": "m30", "kind": "reminder", "due_at": "2026-09-11T05:30:00+00:00",
                 "state": "scheduled", "audience": "stream", "recipients": None,
                 "sent": None, "failed": None},
                {"key": "m1440", "kind": "reminder", "due_at": "2026-09-10T06:00:00+00:00",
                 "state": "done", "audience": "all", "recipients": 40, "sent": 39, "failed": 1},
            ]  # fmt: skip
            return httpx.Response(200, json={"event_id": "seminaari", "items": items})
        if path == "/api/v1/events/seminaari/seats":
            # An older capacity: no cutoff fields yet.
            return httpx.Response(200, json={"capacity": 40, "reserved": 43, "waitlisted": 2})
        return httpx.Response(500)

    asking = services(answer)
    assert await asking.audience_size("seminaari", "on_site") == 12
    progress = await asking.message_progress("known")
    assert progress is not None
    assert (progress.state, progress.sent, progress.pending, progress.skipped) == (
        "sending",
        4,
        6,
        1,
    )
    assert await asking.message_progress("unheard-of") is None
    [first, second] = await asking.schedule("seminaari")
    assert (first.key, first.recipients) == ("m1440", 40)  # soonest first
    assert (second.key, second.recipients) == ("m30", None)
    seats = await asking.seats("seminaari")
    assert (seats.over_capacity, seats.promotion_closed, seats.free) == (0, False, 0)


async def test_notification_down_or_answering_nonsense_is_unavailable() -> None:
    asking = services(lambda _request: httpx.Response(503))
    with pytest.raises(Unavailable):
        await asking.audience_size("seminaari", "all")
    with pytest.raises(Unavailable):
        await asking.message_progress("x")
    nonsense = services(lambda _request: httpx.Response(200, json={"recipients": "many"}))
    with pytest.raises(Unavailable):
        await nonsense.schedule("seminaari")
    with pytest.raises(ValueError, match="not a count"):
        await nonsense.audience_size("seminaari", "all")


def test_the_schedule_and_seats_read_in_the_events_zone_and_the_readers_language() -> None:
    item = ScheduleItem(
        key="m1440",
        kind="reminder",
        due_at=datetime(2026, 9, 10, 6, 0, tzinfo=UTC),
        state="done",
        audience="stream",
        recipients=40,
        sent=39,
        failed=1,
    )
    row = schedule_row(item, "Europe/Helsinki", Language.FI)
    assert row.what == "Muistutus"
    assert "9.00" in row.due  # 6.00 UTC is 9.00 in Helsinki in September
    assert row.state == "Lähetetty"
    assert row.audience == "Striimin katsojat: etäosallistujat ja jonossa olevat"
    assert row.counts == "39/40 lähetetty, 1 epäonnistui"
    unknown = schedule_row(
        ScheduleItem("x", "newer_kind", None, "later", None, None, None, None),
        "Europe/Helsinki",
        Language.EN,
    )
    assert (unknown.what, unknown.state, unknown.due, unknown.counts) == (
        "newer_kind",
        "later",
        "",
        "",
    )

    closed = SeatFigures(40, 38, 5, promotion_closed=True)
    assert seats_view(closed, "Europe/Helsinki", Language.EN).closed_free == 2
    open_ = SeatFigures(40, 43, 5, over_capacity=3, promotion_closes_at=item.due_at)
    view = seats_view(open_, "Europe/Helsinki", Language.EN)
    assert view.closed_free is None
    assert view.promotion_closes_at is not None
    assert view.promotion_closes_at.endswith("9:00")
