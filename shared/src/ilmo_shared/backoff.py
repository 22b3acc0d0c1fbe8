"""Capped exponential backoff with jitter, for reconnecting to servers that are down.

Many replicas that lost the same broker must not knock on it in step when it
comes back, so every wait is drawn from the upper half of its step
("equal jitter"): spread, but never much shorter than the step. The cap keeps
a service that has waited through a long outage quick to notice the end of it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

Jitter = Callable[[], float]
# Failures past this many no longer grow the step: any cap is reached long
# before, and a float power grows past 1e308 (OverflowError) at 2**1024, which
# an outage of an hour or so of 5 s waits would otherwise reach.
_MAX_EXPONENT = 64


def _equal_jitter() -> float:
    return random.uniform(0.5, 1.0)  # noqa: S311 - spreading reconnects, not a secret


@dataclass
class Backoff:
    """Successive waits: ``initial``, doubled each failure up to ``cap``, times the jitter."""

    initial: float = 0.2
    cap: float = 5.0
    factor: float = 2.0
    jitter: Jitter = field(default=_equal_jitter)
    failures: int = 0

    def next_delay(self) -> float:
        """The wait after one more failure."""
        step = min(self.cap, self.initial * self.factor ** min(self.failures, _MAX_EXPONENT))
        self.failures += 1
        return step * self.jitter()

    def reset(self) -> None:
        """Success: the next failure starts from ``initial`` again."""
        self.failures = 0
