"""Run every program in examples/ as a user would, and check that it did its job.

Each example is found by globbing, so a new one is run without touching this file. It
runs in a fresh interpreter (``python examples/x.py``, from a temporary directory so
that it cannot depend on the working directory), must exit with status 0 within the
timeout, must print the line listed for it below, and must not leave a traceback on
stderr: an exception in a background thread does not change the exit status, so the
traceback is the only trace it leaves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(EXAMPLES.rglob("*.py"))

#: How long one example may take. They finish in about a second; the margin is for a
#: loaded machine (CURVE handshakes are CPU work).
TIMEOUT = 60

#: A line each example prints once it has checked its own outcome. An example missing
#: here must still exit 0, print something and leave no traceback.
EXPECTED = {
    "reqrep.py": "reqrep: done",
    "dealer_router.py": "dealer_router: all 9 results in",
    "pubsub.py": "pubsub: each subscriber got every message of its topic",
    "pipeline.py": "pipeline: 9 primes between 1000 and 1059",
    "pair.py": "pair: done",
    "stream.py": "stream: the plain TCP client was answered",
    "proxy.py": "proxy: the subscriber got all 3 readings of each publisher",
    "service_mesh.py": "service_mesh: 3 clients admitted, 1 refused",
    "telemetry.py": "telemetry: 2 devices reconnected by themselves and resumed after "
                    "the cloud restart",
    "asyncio/reqrep.py": "reqrep (asyncio): 9 requests answered",
    "asyncio/pipeline.py": "pipeline (asyncio): 44 vowels in 19 words",
    "asyncio/pubsub.py": "pubsub (asyncio): 12 quotes delivered",
    "asyncio/service_mesh.py": "service_mesh (asyncio): 3 clients admitted, reporting "
                               "refused, then admitted once approved",
    "asyncio/telemetry.py": "telemetry (asyncio): 2 devices reconnected by themselves "
                            "and resumed after the cloud restart",
}


def _name(script: Path) -> str:
    return script.relative_to(EXAMPLES).as_posix()


def test_examples_are_found() -> None:
    assert len(SCRIPTS) >= len(EXPECTED)
    assert set(EXPECTED) <= {_name(s) for s in SCRIPTS}


@pytest.mark.timeout(TIMEOUT + 30)
@pytest.mark.parametrize("script", SCRIPTS, ids=_name)
def test_example_runs(script: Path, tmp_path: Path) -> None:
    env = dict(os.environ)
    # The checkout's securemq, even if another one is installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("SECUREMQ_STRICT", None)
    result = subprocess.run(
        # -W error: a warning (an un-awaited coroutine, an unclosed resource) fails it.
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT,
        check=False,
    )
    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, report
    assert result.stdout.strip(), report
    expected = EXPECTED.get(_name(script))
    if expected is not None:
        assert expected in result.stdout, report
    assert "Traceback" not in result.stderr, report
    assert "Exception ignored" not in result.stderr, report


def test_every_example_is_in_the_readme() -> None:
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    missing = [_name(s) for s in SCRIPTS if f"examples/{_name(s)}" not in readme]
    assert not missing, f"add these to examples/README.md: {missing}"
