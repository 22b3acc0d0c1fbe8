"""Prometheus metrics of the notification service (served at ``/metrics``).

Labels are kinds, states and reasons only: never an address, a name or an id.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MAIL_INTENTS = Counter(
    "ilmo_mail_intents_total",
    "Mails asked for by incoming events, by kind and outcome (recorded, duplicate).",
    ["kind", "outcome"],
)
MAILS_SENT = Counter("ilmo_mail_sent_total", "Mails the SMTP server accepted, by kind.", ["kind"])
MAIL_ATTEMPT_FAILURES = Counter(
    "ilmo_mail_attempt_failures_total",
    "Failed delivery attempts, by kind and reason "
    "(connection, transient, permanent, render, internal).",
    ["kind", "reason"],
)
MAILS_FAILED = Counter(
    "ilmo_mail_failed_total",
    "Mails given up on and parked for an operator (notification.failed), by kind.",
    ["kind"],
)
MAILS_SKIPPED = Counter(
    "ilmo_mail_skipped_total",
    "Mails dropped before sending because a later one made them pointless, by kind.",
    ["kind"],
)
POSSIBLE_DUPLICATES = Counter(
    "ilmo_mail_possible_duplicates_total",
    "Mails sent again after an attempt whose outcome is unknown (the process died after "
    "marking it sending): the recipient may have two copies with the same Message-ID.",
    ["kind"],
)
SMTP_SECONDS = Histogram(
    "ilmo_mail_smtp_seconds", "Time of one SMTP mail transaction (successful or not)."
)
DISPATCHER_PAUSED = Gauge(
    "ilmo_mail_dispatcher_paused",
    "1 while the dispatcher waits after the SMTP server could not be reached.",
)
BROADCASTS = Counter(
    "ilmo_broadcasts_total",
    "Mails to an event's audience (reminders, change and cancellation notices, organiser "
    "messages, thank-yous) by kind and outcome: done (recipients' mails recorded), missed "
    "(a reminder found due after the event started), dropped (the event was cancelled).",
    ["kind", "outcome"],
)
BROADCAST_RECIPIENTS = Counter(
    "ilmo_broadcast_recipients_total",
    "Mails recorded by broadcasts, by kind (one per recipient, whatever repeats).",
    ["kind"],
)
SCHEDULE_LAG = Histogram(
    "ilmo_schedule_lag_seconds",
    "How late a broadcast was expanded after its due time.",
    buckets=(0.1, 0.5, 1, 2, 5, 15, 30, 60, 300, 900, 3600),
)
MAILS_WAITING = Gauge(
    "ilmo_mails_waiting",
    "Mails asked for and not yet sent, failed or skipped (pending or sending), "
    "as last counted (ILMO_MAIL_WAITING_SAMPLE_SECONDS).",
)
MAIL_OLDEST_WAITING_AGE = Gauge(
    "ilmo_mail_oldest_waiting_age_seconds",
    "Age of the oldest mail not yet sent, failed or skipped, as last counted; 0 when none waits.",
)
