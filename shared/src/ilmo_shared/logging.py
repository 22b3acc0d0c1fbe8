"""JSON log lines with the correlation id of whatever caused them.

The correlation id is bound in a context variable by the HTTP middleware (from
``X-Correlation-ID`` or a new one) and by the subscriber (from the incoming
message), so every log line and every event published while handling a
request or a message carries it. Personal data (names, emails) must never be
passed to a logger: log ids and counts instead.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

CORRELATION_ID = "correlation_id"


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route structlog and the standard library's logging to JSON on stdout."""
    shared_processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_service(service),
    ]
    structlog.configure(
        processors=[
            *shared_processors,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared_processors,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Access logs would carry paths with ids and tokens; metrics cover traffic.
    logging.getLogger("uvicorn.access").disabled = True


def _add_service(service: str) -> structlog.typing.Processor:
    def add(
        _logger: object, _method: str, event_dict: structlog.typing.EventDict
    ) -> structlog.typing.EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    return add


def new_correlation_id() -> str:
    """A fresh correlation id for work that did not come with one."""
    return uuid.uuid4().hex


def current_correlation_id() -> str | None:
    """The correlation id bound to the work in progress, if any."""
    value = structlog.contextvars.get_contextvars().get(CORRELATION_ID)
    return value if isinstance(value, str) else None


@contextmanager
def correlation_scope(correlation_id: str | None) -> Iterator[str]:
    """Bind a correlation id (or a new one) for the duration of a unit of work."""
    value = correlation_id or new_correlation_id()
    with structlog.contextvars.bound_contextvars(**{CORRELATION_ID: value}):
        yield value
