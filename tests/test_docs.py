"""The documentation: generated references up to date, links that resolve, examples that run."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from sim import docs
from sim.kpis import KPI_REGISTRY

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted([README, *(ROOT / "docs").rglob("*.md")])
"""Every markdown page of the project: the README and everything under docs/."""

README_MOST_LINES = 200

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    """``text`` without fenced code blocks and code spans (their brackets are not links)."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def _anchors(page: Path) -> set[str]:
    """The anchors of ``page``'s headings, as GitHub makes them."""
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        anchor = docs.anchor(heading)  # the generator's own rule
        found.add(anchor)
        found.add(anchor.replace("`", ""))
    return found


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", docs.pages(), ids=str)
def test_the_generated_references_are_up_to_date(page: Path) -> None:
    committed = ROOT / page
    expected = docs.pages()[page]
    assert committed.exists(), f"{page} is missing: run python -m sim.docs"
    assert committed.read_text(encoding="utf-8") == expected, (
        f"{page} is out of date with the code: run python -m sim.docs"
    )


def test_the_cli_reference_has_every_command_and_option() -> None:
    text = docs.cli_reference()
    for name in ("run", "compare", "plan", "reverse-funnel", "sweep", "report", "app"):
        assert f"## revloop {name}\n" in text
    assert "`--target-arr`" in text
    assert "`--confidence`" in text
    assert "| `--reps`, `-n` |" in text


def test_the_kpi_reference_has_every_kpi() -> None:
    text = docs.kpi_reference()
    for kpi in KPI_REGISTRY.values():
        assert f"| `{kpi.name}` | {kpi.label} | {kpi.unit} |" in text, kpi.name


def test_the_scenario_reference_has_every_section_and_field() -> None:
    from sim.scenario.schema import FieldSales, InsideSales, Scenario

    text = docs.scenario_reference()
    for model in (Scenario, InsideSales, FieldSales):
        assert f"## {model.__name__}\n" in text
        for name in model.model_fields:
            assert f"| `{name}` |" in text, f"{model.__name__}.{name}"
    assert "### `dist: lognormal`" in text


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path_part, _, fragment = target.partition("#")
        goal = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not goal.exists():
            broken.append(f"{target} (no file {goal})")
        elif fragment and goal.suffix == ".md" and fragment not in _anchors(goal):
            broken.append(f"{target} (no heading #{fragment} in {_name(goal)})")
    assert not broken, f"{_name(page)}: broken links: {broken}"


def test_the_readme_is_a_front_door() -> None:
    text = README.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= README_MOST_LINES, f"README.md has {len(lines)} lines"
    # the two commands that work on a fresh machine come first (CI reads the test command)
    first = text.split("---", 1)[0]
    assert "pip install . && revloop run scenarios/base.yaml" in first
    assert 'pip install -e ".[test]" && python -m pytest' in first
    assert "docs/images/app.png" in text


PAGES_WITH_EXAMPLES = [p for p in PAGES if ">>> " in p.read_text(encoding="utf-8")]


@pytest.mark.parametrize("page", PAGES_WITH_EXAMPLES, ids=_name)
def test_the_examples_run(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # examples name files relative to the project folder
    result = doctest.testfile(
        str(page),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
        report=True,
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
    assert result.attempted > 0


def test_the_python_reference_has_examples_that_run() -> None:
    assert ROOT / "docs" / "reference" / "python.md" in PAGES_WITH_EXAMPLES


MODULES_WITH_EXAMPLES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts)
    for path in (ROOT / "sim").rglob("*.py")
    if ">>> " in path.read_text(encoding="utf-8") and path.name != "docs.py"
)
"""The modules of ``sim`` whose docstrings hold ``>>>`` examples."""


@pytest.mark.parametrize("name", MODULES_WITH_EXAMPLES)
def test_the_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"


def test_the_index_links_every_page() -> None:
    index = ROOT / "docs" / "index.md"
    linked = {
        (index.parent / target.partition("#")[0]).resolve()
        for target in LINK.findall(_prose(index.read_text(encoding="utf-8")))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)
    }
    unlinked = [_name(p) for p in PAGES if p not in (README, index) and p not in linked]
    assert not unlinked, f"docs/index.md does not link {unlinked}"
