"""The ``securemq`` command line, run as a user runs it: in a subprocess."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(60)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "securemq", *args], capture_output=True,
                          text=True, timeout=50, check=False)


def test_demo_runs_a_secure_exchange_and_refuses_the_stranger() -> None:
    done = _run("demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("alice got: reply to") == 3
    assert "from User-Id 'alice'" in out
    assert "-> 200 alice" in out and "-> 400 unknown key" in out
    assert "mallory refused: HANDSHAKE_FAILED_AUTH (ZAP status 400)" in out
    assert out.rstrip().endswith("demo finished")


def test_no_command_is_a_usage_error() -> None:
    done = _run()
    assert done.returncode == 2
    assert "usage" in done.stderr
