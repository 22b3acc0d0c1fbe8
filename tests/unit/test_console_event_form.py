"""The console's event form: every field of an event to the inputs and back, errors to inputs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from ilmo_event_contracts import Language
from ilmo_registration.catalogue import EventSpec
from ilmo_registration.console.event_form import (
    ENTER_NUMBER,
    ENTER_TIME,
    EventForm,
    SpeakerForm,
    Texts,
    apply,
    check,
    inputs,
    of_spec,
    read,
)
from ilmo_registration.privacy import notice
from ilmo_registration.schemas import EventCreate
from tests.support.registration import event_payload
from tests.support.sample_event import sample_event_script

LANGUAGES = (Language.FI, Language.SV, Language.EN)


def sample() -> dict[str, Any]:
    body: dict[str, Any] = sample_event_script().sample_event(date(2026, 12, 1))
    return body


def every_field() -> dict[str, Any]:
    """The sample seminar with every optional field set to something not its default."""
    body = sample()
    body.update(
        published=False,
        email_confirmation=False,
        retention_days=30,
        stream_opens_minutes_before=15,
        stream_closes_minutes_after=45,
        in_person_capacity=0,
        stream_playback="signed_hls",
    )
    body["organiser"]["phone"] = "+358 29 516 001"
    body["agenda"][0]["talks"] = [
        {"title": {"fi": "Puheenvuoro"}, "speakers": [{"name": "Anna Ainoa"}]}
    ]
    return body


def spec_of(body: dict[str, Any]) -> EventSpec:
    return EventCreate.model_validate(body).to_spec()


def test_every_field_of_the_sample_seminar_comes_back_from_the_form_unchanged() -> None:
    spec = spec_of(every_field())
    texts = {"fi": "Tietosuoja", "sv": "Dataskydd", "en": "Privacy"}
    in_force = notice(dict(zip(LANGUAGES, texts.values(), strict=True)))
    form = of_spec(spec, "yhteiset-tyoymparistot", in_force)

    sent_back = read(inputs(form))
    checked = check(sent_back)

    assert checked.errors == []
    assert checked.event is not None
    assert checked.event.id == "yhteiset-tyoymparistot"
    assert checked.event.to_spec() == spec
    assert checked.notice is not None
    assert [checked.notice[language] for language in LANGUAGES] == list(texts.values())


def test_times_are_typed_in_the_events_own_zone() -> None:
    spec = spec_of(event_payload(now=datetime(2026, 6, 1, tzinfo=UTC)))
    form = of_spec(spec)
    form.starts_at = "2026-09-11T09:00"
    form.ends_at = "2026-09-11T12:00"
    form.agenda = []

    checked = check(form)

    assert checked.event is not None, checked.errors
    assert checked.event.starts_at.isoformat() == "2026-09-11T09:00:00+03:00"  # summer time
    assert of_spec(checked.event.to_spec()).starts_at == "2026-09-11T09:00"


def test_each_error_is_shown_at_the_input_that_caused_it() -> None:
    form = of_spec(spec_of(event_payload(now=datetime(2026, 6, 1, tzinfo=UTC))))
    form.title = Texts()
    form.ends_at = form.starts_at  # not after the start
    form.organiser_email = "not an address"
    form.in_person_capacity = "many"
    form.agenda[0].speakers.append(SpeakerForm(title=Texts(fi="puhuja")))  # no name
    form.registration_opens_at = "tomorrow"

    errors = {error.field: error.message for error in check(form).errors}

    assert errors["title.fi"] == "this is required"
    assert errors["organiser.email"].startswith("enter an email address")
    assert errors["in_person_capacity"] == ENTER_NUMBER
    assert errors["registration_opens_at"] == ENTER_TIME
    assert errors["agenda.0.speakers.1.name"] == "this is required"


def test_the_catalogues_rules_name_the_input_too() -> None:
    form = of_spec(spec_of(event_payload(now=datetime(2026, 6, 1, tzinfo=UTC))))
    form.ends_at = form.starts_at
    form.agenda = []

    errors = {error.field: error.message for error in check(form).errors}

    assert errors == {"ends_at": "must be after starts_at"}


def test_a_privacy_notice_needs_every_language_or_none() -> None:
    form = of_spec(spec_of(event_payload(now=datetime(2026, 6, 1, tzinfo=UTC))))
    form.privacy_notice = Texts(fi="Tietosuojaseloste")

    errors = [error.field for error in check(form).errors]

    assert errors == ["privacy_notice.sv", "privacy_notice.en"]


def test_adding_a_talk_keeps_everything_typed_and_focuses_the_new_talk() -> None:
    form = of_spec(spec_of(every_field()))
    typed = inputs(form)

    changed, focus = apply(read(typed), "add:agenda.0.talks")

    assert len(changed.agenda[0].talks) == 2
    assert focus == "agenda.0.talks.1.title.fi"
    kept = inputs(changed)
    assert all(kept[name] == value for name, value in typed.items())


def test_removing_a_block_removes_it_and_nothing_else() -> None:
    form = of_spec(spec_of(every_field()))
    titles = [block.title.fi for block in form.agenda]

    changed, _focus = apply(form, "remove:agenda.1")

    assert [block.title.fi for block in changed.agenda] == titles[:1] + titles[2:]


def test_blank_rows_are_dropped_and_unknown_actions_change_nothing() -> None:
    form, _focus = apply(EventForm(), "add:target_groups")
    form, _focus = apply(form, "add:agenda")
    unchanged, focus = apply(form, "remove:agenda.7")
    assert focus is None
    assert len(unchanged.agenda) == 1
    assert apply(form, "add:nothing")[0] == form
    assert apply(form, "remove:agenda.x")[0] == form

    sent_back = check(read(inputs(form))).form

    assert sent_back.target_groups == []
    assert sent_back.agenda == []


def test_the_errors_come_in_the_order_of_the_page() -> None:
    fields = [error.field for error in check(EventForm()).errors]

    assert fields.index("title.fi") < fields.index("starts_at") < fields.index("venue.name.fi")
    assert fields.index("venue.name.fi") < fields.index("organiser.email")


def test_an_id_that_is_a_console_address_is_refused() -> None:
    form = of_spec(spec_of(every_field()), "new")

    assert [error.field for error in check(form).errors] == ["id"]


def test_a_row_left_blank_is_still_there_for_its_buttons() -> None:
    form = of_spec(spec_of(every_field()))
    form.target_groups.insert(0, Texts())  # added, not filled in yet
    kept = form.target_groups[-1]

    changed, _focus = apply(read(inputs(form)), "remove:target_groups.1")
    with_talk, _focus = apply(
        read(inputs(apply(EventForm(), "add:agenda")[0])), "add:agenda.0.talks"
    )

    assert changed.target_groups[0] == Texts()
    assert changed.target_groups[-1] == kept
    assert len(changed.target_groups) == len(form.target_groups) - 1
    assert len(with_talk.agenda[0].talks) == 1
