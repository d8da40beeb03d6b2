"""Data model shared by the benchmark cases, the runner and the report.

A *case* (``throughput``, ``latency``, ...) expands into *variants* (``tcp 64 B``,
``ipc 1 MiB``, ...).  Each variant is measured once per implementation and yields
a :class:`Measurement`: a flat ``{metric key: number}`` mapping.  The report then
puts the numbers of the implementations side by side, one row per
:class:`Metric`, and checks the issue's :class:`Target` on the ratio.

Nothing in this module imports ``zmq`` or ``securemq``: the parent process only
orchestrates, every socket lives in a spawned child (see :mod:`benchmarks.procs`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


class BenchError(Exception):
    """A measurement could not be completed (timeout, child crash, bad data...).

    It is reported as an error cell in the table instead of aborting the run.
    """


@dataclass(frozen=True)
class Target:
    """An acceptance threshold on the ratio ``candidate / baseline``.

    ``Target(">=", 0.5)`` means the candidate must reach at least half of the
    baseline; ``Target("<=", 1.5)`` means the candidate may be at most 1.5 times
    the baseline (for "lower is better" metrics such as latency or memory).
    """

    op: Literal[">=", "<="]
    ratio: float
    on_value: bool = False
    """Judge the candidate's own value instead (for metrics that are ratios already,
    such as tls+tcp over tcp within one implementation)."""

    def met_by(self, ratio: float) -> bool:
        """Return whether ``ratio`` satisfies the target."""
        compare = operator.ge if self.op == ">=" else operator.le
        return bool(compare(ratio, self.ratio))

    def __str__(self) -> str:
        symbol = "\N{GREATER-THAN OR EQUAL TO}" if self.op == ">=" else "\N{LESS-THAN OR EQUAL TO}"
        return f"{symbol} {self.ratio:g}"


@dataclass(frozen=True)
class Metric:
    """One number reported by a variant, shown as one table row.

    ``key`` indexes :attr:`Measurement.values`; ``label`` and ``unit`` are for
    humans; ``higher_is_better`` only documents the direction (shown as an arrow).
    """

    key: str
    label: str
    unit: str
    higher_is_better: bool
    target: Target | None = None


@dataclass(frozen=True)
class Variant:
    """One concrete configuration of a case, e.g. ``throughput`` over ``tcp`` at 64 B.

    ``params`` are JSON-serialisable and passed to the worker processes verbatim,
    so the JSON report records exactly what was run.
    """

    name: str
    params: Mapping[str, Any]
    metrics: tuple[Metric, ...]


@dataclass(frozen=True)
class Settings:
    """Run-wide knobs chosen on the command line."""

    quick: bool
    idle_timeout: float
    """Seconds a receiver may wait for the next message before giving up."""
    tmpdir: str
    """Private directory for ipc endpoints; removed at the end of the run."""

    @property
    def max_seconds(self) -> float:
        """Wall-clock cap for the measured part of one run.

        Counts are tuned so pyzmq finishes well within it; a much slower
        implementation is stopped at the cap and its partial rate is reported.
        """
        return 4.0 if self.quick else 20.0


@dataclass
class Measurement:
    """Numbers produced by one variant for one implementation."""

    values: dict[str, float]
    notes: list[str] = field(default_factory=list)


MeasureFn = Callable[[str, Variant, Settings], Measurement]
"""``measure(impl, variant, settings)``: run the variant with module ``impl``."""


@dataclass(frozen=True)
class Case:
    """A named benchmark: how to expand it into variants and how to measure one."""

    name: str
    summary: str
    variants: Callable[[Settings], list[Variant]]
    measure: MeasureFn
