"""Run every fuzz target for a bounded time: ``python -m fuzz [--time S] [target ...]``.

Each target runs under atheris in its own process with the seed corpus of
``fuzz/corpus/<target>/`` (read only) and a scratch corpus in ``fuzz/.work/<target>/``
that collects what libFuzzer finds. A crash leaves its input in ``fuzz/artifacts/`` and
makes the exit status non-zero.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = ("fuzz_greeting", "fuzz_frames", "fuzz_null_handshake", "fuzz_metadata",
           "fuzz_plain_handshake", "fuzz_curve_handshake", "fuzz_tls_filter")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fuzz", description=__doc__,
        epilog="Other arguments starting with '-' go to libFuzzer, e.g. -jobs=2 -workers=2.")
    parser.add_argument("targets", nargs="*", metavar="target",
                        help=f"targets to run (default: all of {', '.join(TARGETS)})")
    parser.add_argument("--time", type=int, default=60, help="seconds per target")
    parser.add_argument("--rss-limit-mb", type=int, default=1024,
                        help="libFuzzer's memory limit: exceeding it is a failure")
    args, extra = parser.parse_known_args(argv)
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown or any(not a.startswith("-") for a in extra):
        parser.error(f"unknown target(s): {' '.join(unknown or extra)}")
    artifacts = HERE / "artifacts"
    artifacts.mkdir(exist_ok=True)
    failed = []
    for target in args.targets or TARGETS:
        work = HERE / ".work" / target
        work.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", f"fuzz.{target}",
            f"-max_total_time={args.time}",
            f"-rss_limit_mb={args.rss_limit_mb}",
            "-timeout=10",
            f"-artifact_prefix={artifacts}/{target}-",
            "-print_final_stats=1",
            f"-dict={HERE / 'zmtp.dict'}",
            *extra,
            str(work), str(HERE / "corpus" / target),
        ]
        print(f"== {target}: {' '.join(cmd[1:])}", flush=True)
        rc = subprocess.call(cmd, cwd=HERE.parent)
        print(f"== {target}: exit {rc}", flush=True)
        if rc:
            failed.append(target)
    if failed:
        print(f"FAILED: {' '.join(failed)} (inputs in {artifacts})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
