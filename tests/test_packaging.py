"""What ships and what stays importable: the bundled scenarios as package data, and the
public faces of the planner and the sweeps after their split into modules by job."""

from __future__ import annotations

import ast
import importlib
import tomllib
from importlib import resources
from pathlib import Path

import pytest

import sim.scenario
from sim.scenario import bundled
from tests.helpers import ROOT

SCENARIOS = ROOT / "scenarios"


def test_bundled_finds_the_base_scenario() -> None:
    assert bundled("base.yaml").is_file()
    assert bundled("validation", "erlang_a.yaml").is_file()  # sub-folders too


def test_every_bundled_file_is_shipped_as_package_data() -> None:
    """``pyproject.toml`` lists package data of ``sim._scenarios`` matching every file of
    ``scenarios/``, and ``setup.py`` installs that folder as ``sim._scenarios``."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["sim._scenarios"]
    shipped = {path for pattern in patterns for path in SCENARIOS.glob(pattern)}
    files = {p for p in SCENARIOS.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert files
    assert files - shipped == set()
    setup = ast.parse((ROOT / "setup.py").read_text())
    mapping = next(
        ast.literal_eval(k.value)
        for node in ast.walk(setup)
        if isinstance(node, ast.Call)
        for k in node.keywords
        if k.arg == "package_dir"
    )
    assert mapping == {"sim._scenarios": "scenarios"}


def test_an_installed_package_finds_its_scenarios_with_importlib_resources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside a checkout the bundled files are the package data ``sim/_scenarios``, not
    anything found from the working directory."""
    (tmp_path / "scenarios").mkdir()  # a stray folder where the command runs: not used
    monkeypatch.chdir(tmp_path)
    fake = tmp_path / "site" / "sim" / "scenario" / "__init__.py"
    monkeypatch.setattr(sim.scenario, "__file__", str(fake))
    expected = Path(str(resources.files("sim").joinpath("_scenarios", "base.yaml")))
    assert bundled("base.yaml") == expected


def _imported(module: str) -> set[str]:
    """The names the package and the tests take from ``module``: ``from module import x``,
    and ``alias.x`` where ``from parent import leaf as alias`` bound the module."""
    parent, _, leaf = module.rpartition(".")
    names: set[str] = set()
    for path in [*(ROOT / "sim").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]:
        tree = ast.parse(path.read_text())
        aliases = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == module:
                names.update(a.name for a in node.names)
            if isinstance(node, ast.ImportFrom) and node.module == parent:
                aliases.update(a.asname or a.name for a in node.names if a.name == leaf)
        names.update(
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        )
    return names


@pytest.mark.parametrize("module", ["sim.experiment.plan", "sim.experiment.sweep"])
def test_the_public_faces_keep_their_names(module: str) -> None:
    """Every name other code imports from the planner and the sweeps is still there."""
    face = importlib.import_module(module)
    wanted = _imported(module) | set(getattr(face, "__all__", []))
    assert {"PlanSpace", "plan_search", "FLAGS"} <= wanted or module.endswith("sweep")
    assert sorted(name for name in wanted if not hasattr(face, name)) == []
