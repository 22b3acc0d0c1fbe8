"""The rules of a mail's life, date formats and the service's settings, without I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme
from aiosmtplib import (
    SMTPConnectError,
    SMTPDataError,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPServerDisconnected,
)
from pydantic import ValidationError

from ilmo_event_contracts import (
    Attendance,
    Language,
    NotificationKind,
    SeatReserved,
    StreamLinkProvisioned,
)
from ilmo_notification import formatting
from ilmo_notification.domain import (
    KIND_ORDER,
    Contact,
    FailureKind,
    MailRequest,
    MailRetryPolicy,
    MailState,
    Park,
    RetryAt,
    addressed,
    after_failure,
    cause_of_version,
    mail_id,
    message_id,
    occasion_of,
    resend_cause,
    superseded_by,
    superseding_ids,
    version_of_cause,
    waiting_delay,
    waits_for_receipt,
)
from ilmo_notification.handlers import seat_confirmed, stream_link
from ilmo_notification.mailer import SmtpTls, classify
from ilmo_notification.settings import NotificationSettings
from ilmo_shared.settings import load_settings, require_secrets, secret

POLICY = MailRetryPolicy(max_attempts=4, base_seconds=2, max_seconds=10)


pytestmark = pytest.mark.usefixtures("clean_environment")


def test_one_id_and_one_message_id_per_registration_and_kind() -> None:
    assert mail_id("r1", NotificationKind.SEAT_CONFIRMED) == "r1:seat_confirmed"
    assert message_id("r1", NotificationKind.STREAM_LINK, "ilmo.example.fi") == (
        "<r1.stream_link@ilmo.example.fi>"
    )


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [POLICY.delay(n) for n in range(1, 6)] == [2, 4, 8, 10, 10]
    assert POLICY.delay(3, jitter=0.5) == 4


def test_failures_retry_within_the_budget_then_park() -> None:
    assert after_failure(1, FailureKind.TRANSIENT, "smtp 451", POLICY) == RetryAt(2)
    assert after_failure(3, FailureKind.CONNECTION, "refused", POLICY) == RetryAt(8)
    parked = after_failure(4, FailureKind.TRANSIENT, "smtp 451", POLICY)
    assert isinstance(parked, Park)
    assert parked.reason == "4 attempts, last transient: smtp 451"
    # An attempt broken off by a fault of the service itself backs off the same way.
    assert after_failure(2, FailureKind.INTERNAL, "TypeError", POLICY) == RetryAt(4)
    assert isinstance(after_failure(4, FailureKind.INTERNAL, "TypeError", POLICY), Park)


def test_a_recipient_refused_for_good_or_an_unrenderable_mail_is_parked_at_once() -> None:
    assert isinstance(after_failure(1, FailureKind.PERMANENT, "smtp 550", POLICY), Park)
    assert isinstance(after_failure(1, FailureKind.RENDER, "KeyError", POLICY), Park)


def test_later_mails_make_earlier_unsent_ones_pointless() -> None:
    kinds = NotificationKind
    assert superseded_by(kinds.WAITLISTED, {kinds.SEAT_CONFIRMED}) is kinds.SEAT_CONFIRMED
    assert superseded_by(kinds.SEAT_CONFIRMED, {kinds.CANCELLATION_CONFIRMED}) is (
        kinds.CANCELLATION_CONFIRMED
    )
    assert superseded_by(kinds.STREAM_LINK, {kinds.SEAT_CONFIRMED}) is None
    assert superseded_by(kinds.REGISTRATION_RECEIVED, set(kinds)) is None
    assert superseded_by(kinds.CANCELLATION_CONFIRMED, set(kinds)) is None
    # An attempt with an unknown outcome (its process died mid-send) is never skipped.
    assert superseded_by(
        kinds.SEAT_CONFIRMED, {kinds.CANCELLATION_CONFIRMED}, MailState.SENDING
    ) is (None)


def test_first_mails_never_wait_and_a_confirmed_registration_waits_for_no_receipt() -> None:
    for kind in (
        NotificationKind.CONFIRM_ADDRESS,
        NotificationKind.REGISTRATION_RECEIVED,
        NotificationKind.ALREADY_REGISTERED,
        NotificationKind.MANAGE_LINK,
    ):
        assert not waits_for_receipt(kind, None)
    seat = NotificationKind.SEAT_CONFIRMED
    assert waits_for_receipt(seat, None)
    assert waits_for_receipt(seat, MailState.PENDING)
    assert not waits_for_receipt(seat, MailState.SENT)
    # Confirmed: the confirmation mail was the first, and no receipt follows.
    assert not waits_for_receipt(seat, None, MailState.SENT)
    assert not waits_for_receipt(seat, None, MailState.PENDING)


def test_each_repeat_mail_has_an_id_of_its_own_and_the_same_on_every_delivery() -> None:
    moment = datetime(2026, 9, 1, 8, 0, 0, 123000, tzinfo=UTC)
    occasion = occasion_of(moment)
    assert occasion == occasion_of(moment)
    kind = NotificationKind.ALREADY_REGISTERED
    assert mail_id("r", kind) == "r:already_registered"
    assert mail_id("r", kind, occasion) == f"r:already_registered:{occasion}"
    assert message_id("r", kind, "x.fi", occasion) != message_id("r", kind, "x.fi")
    assert KIND_ORDER[0] is NotificationKind.CONFIRM_ADDRESS
    assert set(KIND_ORDER) == set(NotificationKind)


def test_each_requested_link_is_a_mail_of_its_own_in_the_language_asked_for() -> None:
    kind = NotificationKind.MANAGE_LINK
    first = occasion_of(datetime(2026, 9, 1, 8, 0, tzinfo=UTC))
    second = occasion_of(datetime(2026, 9, 1, 8, 6, tzinfo=UTC))
    assert (
        MailRequest("r", "e", kind, {}, first).mail_id
        != MailRequest("r", "e", kind, {}, second).mail_id
    )
    assert mail_id("r", kind, first) == f"r:manage_link:{first}"
    contact = Contact("r", "e", "a@example.fi", "Åsa", "Öhman", Language.FI, Attendance.REMOTE)
    asked = MailRequest("r", "e", kind, {"language": "sv"}, first)
    assert addressed(contact, asked).language is Language.SV
    assert addressed(contact, MailRequest("r", "e", kind, {}, first)) is contact


def test_waiting_mails_look_again_sooner_first_then_less_often() -> None:
    assert [waiting_delay(n) for n in range(4)] == [2, 4, 8, 16]
    assert waiting_delay(50) == 300


def test_smtp_errors_are_classified_without_the_servers_text() -> None:
    refused = SMTPRecipientsRefused(
        [SMTPRecipientRefused(550, "5.1.1 <asa@example.fi> unknown", "asa@example.fi")]
    )
    failure = classify(refused)
    assert failure.kind is FailureKind.PERMANENT
    assert "asa@example.fi" not in failure.detail
    assert failure.detail == "recipient refused, smtp 550"
    busy = classify(SMTPRecipientsRefused([SMTPRecipientRefused(450, "busy", "asa@example.fi")]))
    assert busy.kind is FailureKind.TRANSIENT
    data = classify(SMTPDataError(451, "4.3.0 <asa@example.fi> try later"))
    assert (data.kind, data.detail) == (FailureKind.TRANSIENT, "SMTPDataError, smtp 451")
    assert classify(SMTPConnectError("refused")).kind is FailureKind.CONNECTION
    assert classify(SMTPServerDisconnected("gone")).kind is FailureKind.CONNECTION
    assert classify(ConnectionRefusedError()).kind is FailureKind.CONNECTION
    assert classify(SMTPDataError(421, "closing")).kind is FailureKind.CONNECTION


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (Language.FI, "pe 29.1.2027 klo 9.00"),
        (Language.SV, "fre 29.1.2027 kl. 9.00"),
        (Language.EN, "Fri 29 January 2027, 9:00"),
    ],
)
def test_dates_are_written_as_each_language_writes_them(language: Language, expected: str) -> None:
    moment = datetime(2027, 1, 29, 7, 0, tzinfo=UTC)
    assert formatting.format_datetime(moment, "Europe/Helsinki", language) == expected


def test_a_span_over_midnight_names_both_days() -> None:
    starts = datetime(2027, 1, 29, 20, 0, tzinfo=UTC)  # 22.00 in Helsinki
    ends = datetime(2027, 1, 29, 23, 30, tzinfo=UTC)  # 1.30 the next day
    assert formatting.format_span(starts, ends, "Europe/Helsinki", Language.FI) == (
        "pe 29.1.2027 klo 22.00 \u2013 la 30.1.2027 klo 1.30"
    )
    assert formatting.format_span(starts, ends, "UTC", Language.EN) == (
        "Fri 29 January 2027, 20:00\u201323:30"
    )
    assert formatting.zone_name("UTC", Language.EN) == "UTC"
    assert formatting.zone_name("Europe/Helsinki", Language.SV) == "finsk tid"


def test_settings_defaults_and_the_required_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = NotificationSettings()
    assert (settings.http_port, settings.smtp_host, settings.smtp_port) == (8083, "127.0.0.1", 1025)
    # Encrypted unless told otherwise.
    assert settings.smtp_tls is SmtpTls.STARTTLS
    assert settings.smtp_ca_file is None
    assert settings.mail_batch_size == 200
    assert (settings.mail_max_attempts, settings.mail_retry_base_seconds) == (8, 2.0)
    assert settings.sender_address == "ilmo@localhost"
    assert settings.message_id_domain == "localhost"
    assert str(settings.registration_public_url) == "http://127.0.0.1:8081/"
    with pytest.raises(SystemExit) as stopped:
        require_secrets(settings, "ilmo-notification", "manage_link_secret")
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "ilmo-notification: invalid setting ILMO_MANAGE_LINK_SECRET: Field required\n"
    )
    monkeypatch.setenv("ILMO_MANAGE_LINK_SECRET", "x" * 32)
    monkeypatch.setenv("ILMO_SMTP_TLS", "implicit")
    monkeypatch.setenv("ILMO_MAIL_FROM", "Ilmo \u2013 VN <ilmo@vn.example.fi>")
    settings = NotificationSettings()
    require_secrets(settings, "x", "manage_link_secret")
    assert secret(settings, "manage_link_secret").get_secret_value() == "x" * 32
    assert settings.smtp_tls is SmtpTls.IMPLICIT
    assert settings.message_id_domain == "vn.example.fi"


@pytest.mark.parametrize(
    "environment",
    [
        {"ILMO_MANAGE_LINK_SECRET": "too-short"},
        {"ILMO_MAIL_FROM": "not an address"},
        {"ILMO_SMTP_USERNAME": "ilmo"},
        {"ILMO_SMTP_TLS": "maybe"},
        {"ILMO_SMTP_TLS": "none", "ILMO_SMTP_USERNAME": "ilmo", "ILMO_SMTP_PASSWORD": "s3cret"},
        {"ILMO_SMTP_CA_FILE": "/nonexistent/ca.pem"},
        {"ILMO_MAIL_BATCH_SIZE": "0"},
        {"ILMO_MAIL_MAX_ATTEMPTS": "0"},
        {"ILMO_SMTP_TIMEOUT_SECONDS": "60", "ILMO_MAIL_SENDING_LEASE_SECONDS": "30"},
        # The lease must cover a whole attempt and its storage writes.
        {"ILMO_SMTP_TIMEOUT_SECONDS": "30", "ILMO_MAIL_SENDING_LEASE_SECONDS": "45"},
    ],
)
def test_bad_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        NotificationSettings()


@pytest.mark.parametrize("tls", ["starttls", "implicit", "none"])
def test_each_tls_mode_is_a_setting_and_none_goes_without_credentials(
    monkeypatch: pytest.MonkeyPatch, tls: str
) -> None:
    monkeypatch.setenv("ILMO_SMTP_TLS", tls)
    settings = NotificationSettings()
    assert settings.smtp_tls is SmtpTls(tls)
    assert settings.smtp_username is None


def test_a_password_in_clear_stops_the_service_with_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ILMO_SMTP_TLS", "none")
    monkeypatch.setenv("ILMO_SMTP_USERNAME", "ilmo")
    monkeypatch.setenv("ILMO_SMTP_PASSWORD", "s3cret-in-clear")
    with pytest.raises(SystemExit) as stopped:
        load_settings(NotificationSettings, "ilmo-notification")
    assert stopped.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("ilmo-notification: invalid setting ILMO_SMTP_TLS: ")
    assert "in clear" in line
    assert "s3cret-in-clear" not in line


def test_the_ca_file_must_exist_and_hold_certificates(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.pem"
    monkeypatch.setenv("ILMO_SMTP_CA_FILE", str(missing))
    with pytest.raises(SystemExit):
        load_settings(NotificationSettings, "ilmo-notification")
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("ilmo-notification: invalid setting ILMO_SMTP_CA_FILE: ")

    not_pem = tmp_path / "not.pem"
    not_pem.write_text("not a certificate\n")
    monkeypatch.setenv("ILMO_SMTP_CA_FILE", str(not_pem))
    with pytest.raises(SystemExit):
        load_settings(NotificationSettings, "ilmo-notification")
    [line] = capsys.readouterr().err.splitlines()
    assert line == (
        "ilmo-notification: invalid setting ILMO_SMTP_CA_FILE: "
        "Value error, not a PEM bundle of CA certificates"
    )

    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("ILMO_SMTP_CA_FILE", str(bundle))
    assert load_settings(NotificationSettings, "ilmo-notification").smtp_ca_file == bundle


# ------------------------------------------------------------------ causes


def test_the_acceptances_mails_keep_the_ids_they_had_before_switching_existed() -> None:
    request = seat_confirmed(
        SeatReserved(registration_id=uuid.UUID(int=7), event_id="e", reserved_at=datetime.now(UTC))
    )
    assert request.mail_id == f"{uuid.UUID(int=7)}:seat_confirmed"
    assert cause_of_version(1) == ""


def test_each_attendance_version_is_a_mail_of_its_own() -> None:
    rid = uuid.UUID(int=7)
    link = StreamLinkProvisioned(
        registration_id=rid,
        event_id="e",
        url="https://stream.example/watch/t",
        valid_from=datetime.now(UTC),
        valid_until=datetime.now(UTC),
        attendance_version=4,
    )
    assert stream_link(link).mail_id == f"{rid}:stream_link:v4"
    assert stream_link(link.model_copy(update={"attendance_version": 2})).mail_id == (
        f"{rid}:stream_link:v2"
    )
    assert message_id(str(rid), NotificationKind.STREAM_LINK, "ilmo.test", "v4") == (
        f"<{rid}.stream_link.v4@ilmo.test>"
    )


def test_a_waiting_list_mail_is_superseded_by_the_seat_of_its_own_version_only() -> None:
    rid = str(uuid.UUID(int=7))
    waiting_v3 = MailRequest(rid, "e", NotificationKind.WAITLISTED, {}, cause_of_version(3))

    assert superseding_ids(waiting_v3) == {
        NotificationKind.SEAT_CONFIRMED: f"{rid}:seat_confirmed:v3",
        NotificationKind.CANCELLATION_CONFIRMED: f"{rid}:cancellation_confirmed",
    }
    waiting_v1 = MailRequest(rid, "e", NotificationKind.WAITLISTED, {})
    assert superseding_ids(waiting_v1)[NotificationKind.SEAT_CONFIRMED] == f"{rid}:seat_confirmed"


def test_a_resent_mail_keeps_the_attendance_version_of_its_original() -> None:
    assert version_of_cause(resend_cause("v3", "4f1c9a7e")) == 3
    assert version_of_cause(resend_cause("", "4f1c9a7e")) == 1
    assert resend_cause("v3", "4f1c9a7e") != resend_cause("v3", "0b6d2c81")
