"""Command line: ``python -m benchmarks [--quick] [--only ...] [--impl ...] [--json FILE]``.

Runs every selected variant once per implementation, in the same run and
interleaved (baseline then candidate for each variant), so both columns see
the same machine state.  Progress goes to stderr, the table to stdout.
A failing or hanging implementation produces error cells, never a crash.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from benchmarks import (
    asyncio_case,
    connections,
    curve,
    latency,
    pubsub,
    router_dealers,
    throughput,
    tls,
)
from benchmarks.core import BenchError, Case, Settings, Variant
from benchmarks.probe import probe
from benchmarks.report import Result, build_rows, format_table, format_value

CASES: tuple[Case, ...] = (
    throughput.CASE,
    latency.CASE,
    router_dealers.CASE,
    connections.CASE,
    curve.CASE,
    pubsub.CASE,
    asyncio_case.CASE,
    tls.CASE,
)
CASES_BY_NAME = {case.name: case for case in CASES}

DEFAULT_IMPLS = "zmq,securemq"


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure securemq and pyzmq side by side (run from the repository root).",
    )
    parser.add_argument("--list", action="store_true", help="list cases and variants, then exit")
    parser.add_argument(
        "--quick", action="store_true", help="short runs (a smoke test; numbers are noisy)"
    )
    parser.add_argument("--only", metavar="NAME[,NAME]", help="run only these cases (see --list)")
    parser.add_argument(
        "--impl",
        default=DEFAULT_IMPLS,
        metavar="MOD[,MOD]",
        help=f"one or two modules to import as zmq; the ratio is the second over the "
        f"first (default: {DEFAULT_IMPLS})",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run each variant N times per implementation, interleaved, and report "
        "the median (default: 1; use 3 or more for numbers you publish)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write all results as JSON")
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=20.0,
        metavar="S",
        help="seconds a receiver waits for the next message before giving up (default: 20)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 1 if any cell is an error or any target is missed",
    )
    args = parser.parse_args(argv)
    if args.only:
        names = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = [name for name in names if name not in CASES_BY_NAME]
        if unknown:
            parser.error(
                f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES_BY_NAME)}"
            )
        args.cases = [CASES_BY_NAME[name] for name in names]
    else:
        args.cases = list(CASES)
    args.impls = [name.strip() for name in args.impl.split(",") if name.strip()]
    if not 1 <= len(args.impls) <= 2:
        parser.error("--impl takes one or two module names")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.idle_timeout <= 0:
        parser.error("--idle-timeout must be positive")
    return args


def _column_labels(impls: Sequence[str]) -> list[str]:
    """Unique column labels: ``zmq,zmq`` (a noise check) becomes ``zmq``, ``zmq#2``."""
    labels: list[str] = []
    for impl in impls:
        label = impl
        while label in labels:
            label = f"{impl}#{len(labels) + 1}"
        labels.append(label)
    return labels


def _print_list(settings: Settings) -> None:
    for case in CASES:
        print(f"{case.name}: {case.summary}")
        for variant in case.variants(settings):
            targets = [
                f"{metric.label} {metric.target}" for metric in variant.metrics if metric.target
            ]
            suffix = f"  (target: {'; '.join(targets)})" if targets else ""
            print(f"    {variant.name}{suffix}")


def _run_one(
    case: Case, impl: str, label: str, variant: Variant, settings: Settings, repeat: int
) -> Result:
    """Measure one variant with one implementation, turning any failure into an error."""
    result = Result(case.name, variant, label, repeat)
    started = time.perf_counter()
    try:
        result.measurement = case.measure(impl, variant, settings)
    except BenchError as exc:
        result.error = str(exc)
    except Exception as exc:  # a bug in a case must not end the run either
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.perf_counter() - started
    return result


def _progress(index: int, total: int, result: Result, repeats: int) -> None:
    head = f"[{index:>2}/{total}] {result.case} {result.variant.name} [{result.impl}]"
    if repeats > 1:
        head += f" run {result.repeat}/{repeats}"
    if result.measurement is not None:
        metric = result.variant.metrics[0]
        value = result.measurement.values.get(metric.key)
        shown = "-" if value is None else format_value(value, metric.unit)
        tail = f"{shown} {metric.unit}"
    else:
        tail = f"ERROR: {(result.error or '').splitlines()[0][:120]}"
    print(f"{head}: {tail}  ({result.seconds:.1f} s)", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks; return the process exit status."""
    args = _parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="securemq-bench-") as tmpdir:
        settings = Settings(quick=args.quick, idle_timeout=args.idle_timeout, tmpdir=tmpdir)
        if args.list:
            _print_list(settings)
            return 0
        return _run(args, settings)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    started_at = datetime.datetime.now(datetime.timezone.utc)
    clock = time.perf_counter()
    labels = _column_labels(args.impls)
    impl_info: dict[str, dict[str, Any]] = {}
    for impl, label in zip(args.impls, labels, strict=True):
        try:
            impl_info[label] = {"module": impl, **probe(impl)}
        except BenchError as exc:
            impl_info[label] = {"module": impl, "error": str(exc)}
        print(f"{label}: {_describe_impl(impl_info[label])}", file=sys.stderr, flush=True)

    plan = [(case, variant) for case in args.cases for variant in case.variants(settings)]
    total = len(plan) * len(labels) * args.repeat
    results: list[Result] = []
    interrupted = False
    try:
        for case, variant in plan:
            for repeat in range(1, args.repeat + 1):
                for impl, label in zip(args.impls, labels, strict=True):
                    error = impl_info[label].get("error")
                    if error:
                        result = Result(case.name, variant, label, repeat, error=error)
                    else:
                        result = _run_one(case, impl, label, variant, settings, repeat)
                    results.append(result)
                    _progress(len(results), total, result, args.repeat)
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: reporting what was measured so far", file=sys.stderr)
    duration = time.perf_counter() - clock

    rows = build_rows(results, labels)
    print(_header(impl_info, settings, args.repeat, duration, interrupted))
    print(format_table(rows, labels))

    if args.json:
        document = {
            "meta": {
                "started": started_at.isoformat(timespec="seconds"),
                "duration_s": round(duration, 1),
                "quick": settings.quick,
                "repeat": args.repeat,
                "idle_timeout_s": settings.idle_timeout,
                "interrupted": interrupted,
                "argv": sys.argv[1:],
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "impls": impl_info,
            },
            "rows": [row.to_json() for row in rows],
            "results": [result.to_json() for result in results],
        }
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
        print(f"\nJSON written to {args.json}")

    if interrupted:
        return 130
    if args.strict and any(row.errors or row.status == "MISS" for row in rows):
        return 1
    return 0


def _describe_impl(info: dict[str, Any]) -> str:
    if "error" in info:
        return f"unavailable ({info['error']})"
    backend = f", backend {info['backend']}" if info.get("backend") else ""
    return f"version {info['version']}{backend}"


def _header(
    impl_info: dict[str, dict[str, Any]],
    settings: Settings,
    repeat: int,
    duration: float,
    interrupted: bool,
) -> str:
    runs = f", median of {repeat} runs" if repeat > 1 else ""
    lines = [
        f"securemq benchmarks ({'quick' if settings.quick else 'full'} run{runs}, "
        f"{duration:.0f} s{', INTERRUPTED' if interrupted else ''})",
        f"python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs",
    ]
    lines += [f"{label}: {_describe_impl(info)}" for label, info in impl_info.items()]
    return "\n".join(lines) + "\n"
