"""Turn measurements into the side-by-side table and the JSON document.

One row per (case, variant, metric).  With ``--repeat N`` each implementation
has N runs per variant; the row shows the median of the runs that succeeded.
With two implementations the row also
carries ``ratio = candidate / baseline`` (the second ``--impl`` over the first,
i.e. securemq / pyzmq by default), the issue's target if it has one, and a
PASS / MISS / ERROR status.  Errors and notes are numbered footnotes so the
table itself stays narrow.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.core import Measurement, Metric, Variant

SI_UNITS = frozenset({"msg/s", "round trips/s"})
"""Units printed with k/M suffixes (large counts); others get plain decimals."""


@dataclass
class Result:
    """The outcome of one run of one variant for one implementation: numbers or an error."""

    case: str
    variant: Variant
    impl: str
    """Column label of the implementation (module name, made unique)."""
    repeat: int = 1
    """1-based index of this run among the ``--repeat`` runs."""
    measurement: Measurement | None = None
    error: str | None = None
    seconds: float = 0.0
    """Wall-clock time the measurement took, process start-up included."""

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "variant": self.variant.name,
            "params": dict(self.variant.params),
            "impl": self.impl,
            "repeat": self.repeat,
            "values": self.measurement.values if self.measurement else None,
            "notes": self.measurement.notes if self.measurement else [],
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class Row:
    """One metric of one variant across the implementations."""

    case: str
    variant: str
    metric: Metric
    values: dict[str, float | None]
    errors: dict[str, str] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    ratio: float | None = None
    status: str = ""

    def to_json(self) -> dict[str, Any]:
        target = self.metric.target
        return {
            "case": self.case,
            "variant": self.variant,
            "metric": self.metric.key,
            "label": self.metric.label,
            "unit": self.metric.unit,
            "higher_is_better": self.metric.higher_is_better,
            "values": self.values,
            "errors": self.errors,
            "ratio": self.ratio,
            "target": {"op": target.op, "ratio": target.ratio} if target else None,
            "status": self.status or None,
        }


def build_rows(results: Sequence[Result], impls: Sequence[str]) -> list[Row]:
    """Group runs by variant (keeping run order), take medians, compute ratios and status."""
    grouped: dict[tuple[str, str], list[Result]] = {}
    for result in results:
        grouped.setdefault((result.case, result.variant.name), []).append(result)
    rows = []
    for (case, variant_name), group in grouped.items():
        runs = {impl: [r for r in group if r.impl == impl] for impl in impls}
        for metric in group[0].variant.metrics:
            row = Row(case, variant_name, metric, values={})
            for impl in impls:
                _fill_cell(row, impl, runs[impl])
            _judge(row, impls)
            rows.append(row)
    return rows


def _fill_cell(row: Row, impl: str, runs: Sequence[Result]) -> None:
    """Set the row's value for ``impl`` from its runs: the median, or an error."""
    good = [r.measurement for r in runs if r.measurement is not None]
    failed = [r.error or "unknown error" for r in runs if r.measurement is None]
    if not runs:
        row.values[impl] = None
        row.errors[impl] = "not run (interrupted)"
        return
    values = [m.values[row.metric.key] for m in good if row.metric.key in m.values]
    if not values:
        row.values[impl] = None
        row.errors[impl] = failed[0] if failed else f"no {row.metric.key} reported"
        return
    row.values[impl] = statistics.median(values)
    notes = [note for m in good for note in m.notes]
    if failed:
        notes.append(f"{len(failed)} of {len(runs)} runs failed, e.g. {failed[0]}")
    if notes:
        row.notes[impl] = list(dict.fromkeys(notes))


def _judge(row: Row, impls: Sequence[str]) -> None:
    """Fill in the ratio (candidate / baseline) and the PASS/MISS/ERROR status."""
    if len(impls) != 2:
        return
    baseline, candidate = (row.values[impl] for impl in impls)
    if baseline is not None and candidate is not None and baseline > 0:
        row.ratio = candidate / baseline
    target = row.metric.target
    if target is None:
        return
    if target.on_value:
        row.status = "ERROR" if candidate is None else \
            ("PASS" if target.met_by(candidate) else "MISS")
        return
    if row.ratio is None:
        row.status = "ERROR"
    else:
        row.status = "PASS" if target.met_by(row.ratio) else "MISS"


def format_value(value: float, unit: str) -> str:
    """Human-friendly number: k/M suffixes for rates, 3-4 significant digits otherwise."""
    if unit in SI_UNITS:
        for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= factor:
                return f"{value / factor:.3g}{suffix}"
        return f"{value:.3g}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


class _Footnotes:
    """Numbered footnotes, deduplicated by text."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def mark(self, text: str) -> str:
        if text not in self.texts:
            self.texts.append(text)
        return f"[{self.texts.index(text) + 1}]"


def format_table(rows: Sequence[Row], impls: Sequence[str]) -> str:
    """Render the rows as a fixed-width text table followed by its footnotes."""
    footnotes = _Footnotes()
    header = ["case", "variant", "metric", *impls]
    paired = len(impls) == 2
    if paired:
        header += [f"{impls[1]}/{impls[0]}", "target", "status"]
    lines: list[list[str]] = [header]
    for row in rows:
        arrow = "\N{UPWARDS ARROW}" if row.metric.higher_is_better else "\N{DOWNWARDS ARROW}"
        label = row.metric.label
        if row.metric.unit != label:
            label += f" ({row.metric.unit})"
        cells = [row.case, row.variant, f"{label} {arrow}"]
        for impl in impls:
            value = row.values[impl]
            if value is None:
                cell = "error " + footnotes.mark(f"{impl}: {row.errors.get(impl, 'no value')}")
            else:
                cell = format_value(value, row.metric.unit)
                for note in row.notes.get(impl, []):
                    cell += " " + footnotes.mark(f"{impl}: {note}")
            cells.append(cell)
        if paired:
            cells.append("-" if row.ratio is None else f"{row.ratio:.2f}")
            cells.append(str(row.metric.target) if row.metric.target else "")
            cells.append(row.status)
        lines.append(cells)
    numeric = set(range(3, len(header) - (2 if paired else 0)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        padded = [
            cell.rjust(widths[i]) if i in numeric and n else cell.ljust(widths[i])
            for i, cell in enumerate(line)
        ]
        out.append("  ".join(padded).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    if footnotes.texts:
        out.append("")
        out.extend(f"[{i}] {text}" for i, text in enumerate(footnotes.texts, 1))
    return "\n".join(out)
