"""Replay the fuzz seed corpus through every fuzz target, without atheris.

Every file under ``fuzz/corpus/*/`` goes through every target's ``TestOneInput``: a
seed for one parser is a fine odd input for the others. A crash found by fuzzing is
fixed, then its input is added to the corpus, and from then on this test keeps it fixed.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
TARGETS = ("fuzz_greeting", "fuzz_frames", "fuzz_null_handshake", "fuzz_metadata",
           "fuzz_curve_handshake", "fuzz_plain_handshake", "fuzz_tls_filter")
FILES = sorted(p for p in CORPUS.glob("*/*") if p.is_file())


def _target(name: str) -> Callable[[bytes], None]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    module = importlib.import_module(f"fuzz.{name}")
    assert "atheris" not in module.__dict__, "targets must import without atheris"
    fn: Callable[[bytes], None] = module.TestOneInput
    return fn


def test_corpus_is_present() -> None:
    for name in TARGETS:
        seeds = list((CORPUS / name).iterdir())
        assert len(seeds) >= 5, f"{name} needs a seed corpus"


@pytest.mark.parametrize("name", TARGETS)
@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_replay(name: str, path: Path) -> None:
    _target(name)(path.read_bytes())


@pytest.mark.parametrize("name", TARGETS)
def test_trivial_inputs(name: str) -> None:
    target = _target(name)
    for data in (b"", b"\x00", b"\xff", b"\x00\x00", b"\xff" * 100, bytes(100)):
        target(data)


def test_seeds_are_reproducible() -> None:
    """``python -m fuzz.seeds`` regenerates exactly the seed files that are checked in."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    seeds = importlib.import_module("fuzz.seeds")
    for target, make in seeds.SEEDS.items():
        for seed_name, data in make().items():
            path = CORPUS / target / f"seed-{seed_name}"
            assert path.read_bytes() == data, path
