"""Documentation stays in step with the code.

- Generated pages (compatibility.md, options.md) and the generated section of
  migrating.md are exactly what their generators write now.
- Every ``python`` code block of the pages in ``RUNNABLE`` runs, each in a fresh
  interpreter with warnings as errors; when an ``output`` block follows it, the
  program must print exactly that.
- index.md links every page, and the links of the pages this suite owns resolve.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from securemq.options import OPTIONS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

#: Pages whose python blocks are complete programs, run by ``test_code_block_runs``.
RUNNABLE = ("quickstart.md", "migrating.md", "security-model.md", "options.md", "tls.md")

#: Pages announced in index.md before they exist (others are writing them).
ANNOUNCED: frozenset[str] = frozenset()

#: Pages whose links are checked (the others have their own owners).
LINK_CHECKED = ("index.md", "quickstart.md", "migrating.md", "security-model.md",
                "options.md", "tls.md")

#: Seconds one code block may take; below pytest-timeout's 60 s so a hang reports
#: the block rather than killing the session.
BLOCK_TIMEOUT = 45


def _load(name: str) -> ModuleType:
    """Import docs/<name>.py as a module (docs/ is not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# -- generated pages --------------------------------------------------------------------


def test_compatibility_page_is_current() -> None:
    expected = _load("gen_compat").render()
    actual = (DOCS / "compatibility.md").read_text()
    assert actual == expected, "run `python docs/gen_compat.py` and commit the result"


def test_options_page_is_current() -> None:
    expected = _load("gen_options").render()
    actual = (DOCS / "options.md").read_text()
    assert actual == expected, "run `python docs/gen_options.py` and commit the result"


def test_options_page_has_a_row_per_option() -> None:
    page = (DOCS / "options.md").read_text()
    rows = re.findall(r"^\| `([A-Z0-9_]+)`", page, flags=re.MULTILINE)
    assert sorted(rows) == sorted(spec.name.upper() for spec in OPTIONS)


def test_options_page_tells_how_to_regenerate() -> None:
    head = (DOCS / "options.md").read_text()[:600]
    assert "python docs/gen_options.py" in head


def test_gen_options_survives_new_kinds_and_names() -> None:
    """Rows the generator has never seen still land on the page, shown with repr."""
    gen = _load("gen_options")
    base = next(spec for spec in OPTIONS if spec.name == "sndhwm")
    odd = dataclasses.replace(base, name="frobnicate", option=4242, kind="widget",
                              default=2.5, minimum=None, maximum=None,
                              doc="A | pipe in the text.")
    tls = dataclasses.replace(base, name="tls_future", option=4243, kind="text",
                              default="x", doc="Future TLS option.")
    gone = dataclasses.replace(base, name="frobnicated", option=4244, kind="widget",
                               default=None, available=False, doc="Not here.")
    page = gen.render([*OPTIONS, odd, tls, gone])
    assert "| `FROBNICATE` | 4242 | 'widget' | `2.5` | — |" in page
    assert "A \\| pipe in the text." in page
    other = page.index("## Other options")
    assert page.index("`FROBNICATE`") > other
    tls_section = page.index("## TLS")
    assert tls_section < page.index("`TLS_FUTURE`") < page.index("## Multicast")
    assert page.index("## Not available") < page.index("`FROBNICATED`")
    # Nothing unknown: no "Other options" section at all.
    assert "## Other options" not in gen.render(OPTIONS)


def test_migrating_section_is_current() -> None:
    pytest.importorskip("zmq")
    gen = _load("gen_migrating")
    page = (DOCS / "migrating.md").read_text()
    assert gen.current_section(page) == gen.render_section(), \
        "run `python docs/gen_migrating.py` and commit the result"


def test_every_missing_module_and_member_has_a_reason() -> None:
    pytest.importorskip("zmq")
    gen = _load("gen_migrating")
    assert [m for m in gen.missing_modules() if m not in gen.MODULE_REASONS] == []
    unexplained = [f"{cls}.{name}" for cls, names in gen.missing_members().items()
                   for name in names
                   if f"{cls.rpartition('.')[2]}.{name}" not in gen.MEMBER_REASONS]
    assert unexplained == []


# -- code blocks ------------------------------------------------------------------------

_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def _blocks(page: str) -> list[tuple[str, str, int, str | None]]:
    """(page, code, line, expected output or None) for each python block of ``page``."""
    text = (DOCS / page).read_text()
    fences = list(_FENCE.finditer(text))
    found = []
    for i, fence in enumerate(fences):
        if fence.group(1).strip() != "python":
            continue
        expected = None
        if i + 1 < len(fences):
            nxt = fences[i + 1]
            if nxt.group(1).strip() == "output" and not text[fence.end():nxt.start()].strip():
                expected = nxt.group(2)
        line = text.count("\n", 0, fence.start()) + 1
        found.append((page, fence.group(2), line, expected))
    return found


CODE_BLOCKS = [block for page in RUNNABLE for block in _blocks(page)]


def test_runnable_pages_have_code() -> None:
    for page in RUNNABLE:
        assert _blocks(page), f"no python block found in {page}"


def test_output_blocks_follow_code() -> None:
    """An ``output`` block that follows no python block would never be checked."""
    for page in RUNNABLE:
        text = (DOCS / page).read_text()
        fences = list(_FENCE.finditer(text))
        for i, fence in enumerate(fences):
            if fence.group(1).strip() == "output":
                assert i > 0 and fences[i - 1].group(1).strip() == "python", \
                    f"{page}: output block with no python block before it"


@pytest.mark.parametrize(("page", "code", "line", "expected"), CODE_BLOCKS,
                         ids=[f"{page}:{line}" for page, _, line, _ in CODE_BLOCKS])
def test_code_block_runs(page: str, code: str, line: int, expected: str | None,
                         tmp_path: Path) -> None:
    script = tmp_path / f"{Path(page).stem}_{line}.py"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if k != "SECUREMQ_STRICT"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    try:
        done = subprocess.run([sys.executable, "-W", "error", str(script)], cwd=tmp_path,
                              env=env, capture_output=True, text=True,
                              timeout=BLOCK_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{page}:{line} did not finish in {BLOCK_TIMEOUT} s; "
                    f"stdout so far: {exc.stdout!r}")
    assert done.returncode == 0, f"{page}:{line} failed:\n{done.stderr}"
    if expected is not None:
        assert done.stdout == expected, f"{page}:{line} printed something else"


# -- links ------------------------------------------------------------------------------

_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = heading.strip().lower().replace("`", "")
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text())
    return {_anchor(m) for m in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}


def test_index_links_every_page() -> None:
    index = (DOCS / "index.md").read_text()
    targets = {link.partition("#")[0] for link in _LINK.findall(index)}
    pages = {p.name for p in DOCS.glob("*.md")} - {"index.md"}
    assert sorted(pages - targets) == []
    assert sorted(ANNOUNCED - targets) == []


@pytest.mark.parametrize("page", LINK_CHECKED)
def test_links_resolve(page: str) -> None:
    text = _FENCE.sub("", (DOCS / page).read_text())
    broken = []
    for link in _LINK.findall(text):
        if re.match(r"[a-z]+:", link):
            continue  # an external address
        target, _, anchor = link.partition("#")
        path = (DOCS / target).resolve() if target else DOCS / page
        if target in ANNOUNCED and not path.exists():
            continue  # being written by someone else
        missing = not path.exists()
        if missing or (anchor and path.suffix == ".md" and anchor not in _anchors(path)):
            broken.append(link)
    assert broken == []
