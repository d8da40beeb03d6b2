"""API parity with pyzmq: the generated page is current and every gap has a reason."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("zmq")

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _gen() -> object:
    spec = importlib.util.spec_from_file_location("gen_parity", DOCS / "gen_parity.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gen_parity"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_parity_page_is_current() -> None:
    gen = _gen()
    assert (DOCS / "api-parity.md").read_text() == gen.render(), \
        "run: python docs/gen_parity.py"


def test_every_missing_name_has_a_reason() -> None:
    gen = _gen()
    unexplained = [f"{mod}.{name}" for mod, names in gen.missing().items()
                   for name in names if f"{mod}.{name}" not in gen.REASONS]
    assert unexplained == []
