"""Order statistics and rates, with no I/O (unit-tested in ``tests/unit/test_bench_stats.py``)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks.

    The same definition as ``numpy.percentile``'s default: for sorted values
    ``v[0..n-1]`` the rank is ``q/100 * (n-1)``. None for no values.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not between 0 and 100")
    if not values:
        return None
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def distribution(values: Sequence[float]) -> dict[str, float | int | None]:
    """count, p50, p95, p99 and max of ``values`` (None where there are none)."""
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": float(max(values)) if values else None,
    }


def rate(count: int, seconds: float | None) -> float | None:
    """``count`` per second over ``seconds``; None when there is no time span."""
    if seconds is None or seconds <= 0:
        return None
    return count / seconds


def middle_rate(times: Sequence[float], low: float = 0.1, high: float = 0.9) -> float | None:
    """The rate between the ``low`` and ``high`` quantiles of event ``times``.

    Completions come in with a ramp at the start (the first decisions wait for
    the first registrations) and a tail at the end; the rate between the 10th
    and 90th percent of them is the sustained one. None with fewer than 10.
    """
    if len(times) < 10:
        return None
    ordered = sorted(times)
    first = ordered[round(low * (len(ordered) - 1))]
    last = ordered[round(high * (len(ordered) - 1))]
    between = round(high * (len(ordered) - 1)) - round(low * (len(ordered) - 1))
    return rate(between, last - first)


def median_of(values: Iterable[Any]) -> float | None:
    """The median of the numbers among ``values`` (None and other types skipped)."""
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return float(statistics.median(numbers)) if numbers else None


def median_figures(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per key, the median over runs of every numeric figure; nested mappings likewise."""
    keys: list[str] = []
    for run in runs:
        keys.extend(k for k in run if k not in keys)
    medians: dict[str, Any] = {}
    for key in keys:
        present = [run[key] for run in runs if key in run]
        if present and all(isinstance(v, Mapping) for v in present):
            medians[key] = median_figures(present)
        elif any(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
            medians[key] = median_of(present)
    return medians
