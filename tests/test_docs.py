"""Generated documentation stays in step with the code."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_compatibility_page_is_current() -> None:
    spec = importlib.util.spec_from_file_location("gen_compat", DOCS / "gen_compat.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.render()
    actual = (DOCS / "compatibility.md").read_text()
    assert actual == expected, "run `python docs/gen_compat.py` and commit the result"
