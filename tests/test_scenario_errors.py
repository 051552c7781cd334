"""Bad scenarios against the real schema: every problem is located (file:line: path) and named.

Each case writes a small child file that ``extends:`` the bundled base scenario by absolute
path (or a whole broken file) into a temporary directory that is also the working directory,
so the loader displays it simply as ``child.yaml``. Each case is checked through the Python
API (``ScenarioError.problems``) and through ``revloop validate`` (exit 2, one line per
problem on stderr, no traceback).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sim.cli import main
from sim.errors import Problem, ScenarioError
from sim.scenario import load_scenario
from sim.scenario.distributions import Uniform

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
BASE = SCENARIOS / "base.yaml"
CHILD = "child.yaml"
NO_VALUE = object()  # the case's problem carries no offending value


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary working directory, so that file names display as written."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_child(directory: Path, body: str, name: str = CHILD) -> Path:
    """A file whose line 1 is ``extends: <base>`` and whose line 2 is the first of ``body``."""
    path = directory / name
    path.write_text(f"extends: {BASE}\n{body}", encoding="utf-8")
    return path


def invoke(*args: str) -> Result:
    """Run ``revloop``; stderr is kept apart from stdout (click >= 8.2 does so by default)."""
    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click < 8.2
    except TypeError:
        runner = CliRunner()
    return runner.invoke(main, list(args))


def only_problem(err: pytest.ExceptionInfo[ScenarioError]) -> Problem:
    assert len(err.value.problems) == 1, err.value.problems
    return err.value.problems[0]


def assert_cli_reports(result: Result, *lines: tuple[str, tuple[str, ...]]) -> None:
    """Exit 2, nothing on stdout, and for each (prefix, words) a stderr line with both."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    stderr = result.stderr.splitlines()
    for prefix, words in lines:
        matching = [line for line in stderr if line.startswith(prefix)]
        assert matching, f"no line starting {prefix!r} in:\n{result.stderr}"
        for word in words:
            assert word in matching[0], f"{word!r} not in {matching[0]!r}"
    assert stderr[-1] == f"{len(lines)} problem(s) found."


# --- one bad value in a child file: (body after the extends line, path, line, words, value) --

ALLOWED_TOP = ("unknown field", "allowed:", "inside_sales", "starting_book")
CASES = [
    pytest.param("foo: 1\n", "foo", 2, ALLOWED_TOP, 1, id="unknown-top-level-key"),
    pytest.param(
        "inside_sales:\n  headcnt: 3\n",
        "inside_sales.headcnt",
        3,
        ("unknown field", "allowed:", "headcount", "contact_probability", "outcome"),
        3,
        id="unknown-nested-key",
    ),
    pytest.param(
        "inside_sales:\n  headcount: ten\n",
        "inside_sales.headcount",
        3,
        ("valid integer",),
        "ten",
        id="wrong-type",
    ),
    pytest.param(
        "inside_sales:\n  headcount: -1\n",
        "inside_sales.headcount",
        3,
        ("greater than or equal to 0",),
        -1,
        id="negative-headcount",
    ),
    pytest.param(
        "inside_sales:\n  contact_probability: 1.5\n",
        "inside_sales.contact_probability",
        3,
        ("less than or equal to 1",),
        1.5,
        id="probability-above-1",
    ),
    pytest.param(
        # A list replaces the base's list wholesale; the bad item is the second one.
        "field_sales:\n"
        "  phases:\n"
        "    - name: discovery\n"
        "      advance_probability: 0.5\n"
        "      duration_days: 10\n"
        "    - name: close\n"
        "      advance_probability: -0.1\n"
        "      duration_days: 5\n",
        "field_sales.phases.1.advance_probability",
        8,
        ("greater than or equal to 0",),
        -0.1,
        id="probability-below-0-in-list",
    ),
    pytest.param(
        # 0.6 + 0.35 + 0.10: the cross-field check is located at the child's segments key.
        "segments:\n  smb:\n    share: 0.6\n",
        "segments",
        2,
        ("shares must sum to 1", "they sum to 1.05"),
        NO_VALUE,
        id="segment-shares-sum",
    ),
    pytest.param(
        "intent:\n  now: 0.2\n",
        "intent",
        2,
        ("intent shares must sum to 1", "they sum to 1.1"),
        {"now": 0.2, "later": 0.65, "never": 0.25},
        id="intent-shares-sum",
    ),
    pytest.param(
        "inside_sales:\n"
        "  outcome:\n"
        "    active: {qualified: 0.5, not_now: 0.3, disqualified: 0.1}\n",
        "inside_sales.outcome.active",
        4,
        ("outcome shares must sum to 1", "they sum to 0.9"),
        {"qualified": 0.5, "not_now": 0.3, "disqualified": 0.1},
        id="contact-outcome-shares-sum",
    ),
    pytest.param(
        "field_sales:\n  appointment_delay_days: -3\n",
        "field_sales.appointment_delay_days",
        3,
        ("duration cannot be negative", "Fixed(value=-3)", "can take -3"),
        -3,
        id="negative-fixed-duration",
    ),
    pytest.param(
        # organic_search sets no follow-up delay in the base, so nothing is merged into it.
        "marketing:\n"
        "  channels:\n"
        "    organic_search:\n"
        "      follow_up_delay_days: {dist: uniform, low: -1, high: 2}\n",
        "marketing.channels.organic_search.follow_up_delay_days",
        5,
        ("duration cannot be negative", "Uniform(low=-1, high=2)", "can take -1"),
        {"dist": "uniform", "low": -1, "high": 2},
        id="negative-uniform-duration",
    ),
    pytest.param(
        "marketing:\n"
        "  channels:\n"
        "    organic_search:\n"
        "      follow_up_delay_days: {dist: lognormal, mean: 5}\n",
        "marketing.channels.organic_search.follow_up_delay_days.sd",
        5,
        ("required field is missing",),
        NO_VALUE,
        id="lognormal-without-sd",
    ),
    pytest.param(
        "marketing:\n"
        "  channels:\n"
        "    organic_search:\n"
        "      follow_up_delay_days: {dist: weibull, shape: 2}\n",
        "marketing.channels.organic_search.follow_up_delay_days",
        5,
        ("'weibull'", "does not match any of the expected tags", "'lognormal'", "'empirical'"),
        {"dist": "weibull", "shape": 2},
        id="unknown-dist-tag",
    ),
    pytest.param(
        "starting_book:\n  customers:\n    smb: 10\n    micro: 5\n",
        "starting_book.customers.micro",
        5,
        ("unknown segment", "segments are ['enterprise', 'mid_market', 'smb']"),
        5,
        id="unknown-segment-in-starting-book",
    ),
    pytest.param(
        # A scalar in the base, so the child's mapping replaces it and lacks enterprise.
        "customer_success:\n  contraction_probability: {smb: 0.1, mid_market: 0.05}\n",
        "customer_success.contraction_probability",
        3,
        ("give a value for every segment", "missing ['enterprise']"),
        {"smb": 0.1, "mid_market": 0.05},
        id="per-segment-mapping-missing-segment",
    ),
    pytest.param(
        # A Scoring-level check that names its field: located at the child's threshold line.
        "marketing:\n  scoring:\n    fast_pass_threshold: 10\n",
        "marketing.scoring.fast_pass_threshold",
        4,
        ("must not be below mql_threshold (20)",),
        10,
        id="fast-pass-below-mql",
    ),
    pytest.param(
        "start_date: 2027-01-15\n",
        "start_date",
        2,
        ("must be the first day of a month",),
        dt.date(2027, 1, 15),
        id="start-date-not-first-of-month",
    ),
]


@pytest.mark.parametrize(("body", "path", "line", "words", "value"), CASES)
def test_api_locates_bad_value(
    workdir: Path, body: str, path: str, line: int, words: tuple[str, ...], value: Any
) -> None:
    write_child(workdir, body)
    with pytest.raises(ScenarioError) as err:
        load_scenario(CHILD)
    problem = only_problem(err)
    assert (problem.file, problem.line, problem.path) == (CHILD, line, path)
    for word in words:
        assert word in problem.message
    if value is not NO_VALUE:
        assert problem.value == value
    assert str(problem).startswith(f"{CHILD}:{line}: {path}: ")


@pytest.mark.parametrize(("body", "path", "line", "words", "value"), CASES)
def test_cli_locates_bad_value(
    workdir: Path, body: str, path: str, line: int, words: tuple[str, ...], value: Any
) -> None:
    write_child(workdir, body)
    assert_cli_reports(invoke("validate", CHILD), (f"{CHILD}:{line}: {path}: ", words))


def test_missing_value_is_not_reported_as_got(workdir: Path) -> None:
    body = "marketing:\n  channels:\n    organic_search:\n"
    body += "      follow_up_delay_days: {dist: lognormal, mean: 5}\n"
    write_child(workdir, body)
    with pytest.raises(ScenarioError) as err:
        load_scenario(CHILD)
    assert "(got" not in str(only_problem(err))


def test_per_segment_churn_missing_a_segment_in_a_whole_file(workdir: Path) -> None:
    # A child cannot drop keys from the base's churn mapping (mappings merge), so this
    # case rewrites the whole base file with enterprise missing from churn_probability.
    lines = BASE.read_text(encoding="utf-8").splitlines()
    index = next(i for i, text in enumerate(lines) if "churn_probability:" in text)
    lines[index] = "  churn_probability: {smb: 0.20, mid_market: 0.10}"
    Path("whole.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_scenario("whole.yaml")
    problem = only_problem(err)
    assert (problem.file, problem.line) == ("whole.yaml", index + 1)
    assert problem.path == "customer_success.churn_probability"
    assert problem.message == "give a value for every segment; missing ['enterprise']"
    assert problem.value == {"smb": 0.20, "mid_market": 0.10}
    assert_cli_reports(
        invoke("validate", "whole.yaml"),
        (f"whole.yaml:{index + 1}: customer_success.churn_probability: ", ("['enterprise']",)),
    )


# --- files that cannot be read ------------------------------------------------------------


def test_malformed_yaml(workdir: Path) -> None:
    write_child(workdir, "inside_sales:\n  headcount: 3\nname: base: x\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(CHILD)
    problem = only_problem(err)
    assert (problem.file, problem.line, problem.path) == (CHILD, 4, "")
    assert problem.message.startswith("malformed YAML:")
    assert "mapping values are not allowed" in problem.message
    assert_cli_reports(invoke("validate", CHILD), (f"{CHILD}:4: malformed YAML: ", ("mapping",)))


def test_missing_scenario_file(workdir: Path) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario("nope.yaml")
    problem = only_problem(err)
    assert (problem.file, problem.line, problem.path) == ("nope.yaml", None, "")
    assert problem.message == "file not found"
    assert_cli_reports(invoke("validate", "nope.yaml"), ("nope.yaml: file not found", ()))


def test_missing_extended_file(workdir: Path) -> None:
    Path(CHILD).write_text("name: child\nextends: missing.yaml\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_scenario(CHILD)
    problem = only_problem(err)
    assert (problem.file, problem.line, problem.path) == (CHILD, 2, "extends")
    assert problem.message == "cannot load missing.yaml: file not found"
    assert_cli_reports(
        invoke("validate", CHILD), (f"{CHILD}:2: extends: cannot load missing.yaml", ())
    )


def test_circular_extends(workdir: Path) -> None:
    Path("a.yaml").write_text("extends: b.yaml\nname: a\n", encoding="utf-8")
    Path("b.yaml").write_text("name: b\nextends: a.yaml\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_scenario("a.yaml")
    problem = only_problem(err)
    assert (problem.file, problem.line, problem.path) == ("b.yaml", 2, "extends")
    assert problem.message == "circular extends: a.yaml -> b.yaml -> a.yaml"
    assert_cli_reports(
        invoke("validate", "a.yaml"), ("b.yaml:2: extends: circular extends: a.yaml -> b", ())
    )


# --- several problems at once -------------------------------------------------------------


def test_all_problems_are_listed_in_file_order(workdir: Path) -> None:
    body = "inside_sales:\n  headcount: -1\n  contact_probability: 1.5\nfoo: 1\n"
    write_child(workdir, body)
    with pytest.raises(ScenarioError) as err:
        load_scenario(CHILD)
    located = [(p.line, p.path) for p in err.value.problems]
    assert located == [
        (3, "inside_sales.headcount"),
        (4, "inside_sales.contact_probability"),
        (5, "foo"),
    ]
    assert_cli_reports(
        invoke("validate", CHILD),
        (f"{CHILD}:3: inside_sales.headcount: ", ("greater than or equal to 0", "(got -1)")),
        (f"{CHILD}:4: inside_sales.contact_probability: ", ("less than or equal to 1",)),
        (f"{CHILD}:5: foo: ", ("unknown field",)),
    )


# --- --set overrides ----------------------------------------------------------------------


def test_valid_set_changes_the_value() -> None:
    assert load_scenario(BASE).inside_sales.headcount == 3
    assert load_scenario(BASE, ["inside_sales.headcount=12"]).inside_sales.headcount == 12
    result = invoke("validate", str(BASE), "--set", "inside_sales.headcount=12")
    assert result.exit_code == 0, result.output
    assert "inside sales 12 reps" in result.stdout


def test_set_replaces_a_distribution_wholesale() -> None:
    sc = load_scenario(
        BASE, ["field_sales.appointment_delay_days={dist: uniform, low: 1, high: 2}"]
    )
    assert sc.field_sales.appointment_delay_days == Uniform(low=1, high=2)


def test_bad_set_is_located_by_position() -> None:
    sets = ["inside_sales.headcount=12", "inside_sales.contact_probability=2"]
    with pytest.raises(ScenarioError) as err:
        load_scenario(BASE, sets)
    problem = only_problem(err)
    assert (problem.file, problem.line) == ("--set", 2)
    assert problem.path == "inside_sales.contact_probability"
    assert problem.value == 2
    result = invoke("validate", str(BASE), *(arg for s in sets for arg in ("--set", s)))
    assert_cli_reports(
        result, ("--set:2: inside_sales.contact_probability: ", ("less than or equal to 1",))
    )


def test_bad_set_cross_field_check_is_located_by_position() -> None:
    # The override replaces the mapping, so the missing segments are the override's fault.
    with pytest.raises(ScenarioError) as err:
        load_scenario(BASE, ["customer_success.churn_probability={smb: 0.1}"])
    problem = only_problem(err)
    assert (problem.file, problem.line) == ("--set", 1)
    assert problem.path == "customer_success.churn_probability"
    assert "missing ['enterprise', 'mid_market']" in problem.message


@pytest.mark.parametrize(
    ("item", "path", "words"),
    [
        pytest.param("foo", "foo", ("expected dotted.path=value",), id="no-equals-sign"),
        pytest.param("=3", "", ("expected dotted.path=value",), id="empty-path"),
        pytest.param(
            "inside_sales.headcount=[1",
            "inside_sales.headcount",
            ("malformed value",),
            id="malformed-yaml-value",
        ),
        pytest.param(
            "field_sales.phases.7.name=x",
            "field_sales.phases.7.name",
            ("index 7 is out of range", "has 4 items"),
            id="index-out-of-range",
        ),
    ],
)
def test_malformed_set_is_reported_clearly(item: str, path: str, words: tuple[str, ...]) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(BASE, [item])
    problem = only_problem(err)
    assert (problem.file, problem.line, problem.path) == ("--set", 1, path)
    assert problem.value == item
    for word in words:
        assert word in problem.message
    prefix = f"--set:1: {path}: " if path else "--set:1: "
    assert_cli_reports(invoke("validate", str(BASE), "--set", item), (prefix, words))


# --- the bundled scenarios are valid --------------------------------------------------------


def test_validate_base_prints_summary_and_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = invoke("validate", "scenarios/base.yaml")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("base: Mid-market SaaS")
    assert any(line.startswith("inside sales 3 reps") for line in lines)
    assert re.fullmatch(r"OK: scenarios/base\.yaml is valid \(sha256 [0-9a-f]{12}\)", lines[-1])
    assert load_scenario(BASE).digest().startswith(lines[-1][-13:-1])


NOT_SCENARIOS = ("sweeps",)  # sweep definitions live beside the scenarios they vary
SCENARIO_FILES = sorted(
    p
    for p in {*SCENARIOS.rglob("*.yaml"), *SCENARIOS.rglob("*.yml")}
    if not set(p.relative_to(SCENARIOS).parts) & set(NOT_SCENARIOS)
    and not p.name.endswith("_columns.yaml")
)


def test_scenario_files_are_found() -> None:
    assert BASE in SCENARIO_FILES


@pytest.mark.parametrize(
    "path", SCENARIO_FILES, ids=[str(p.relative_to(SCENARIOS)) for p in SCENARIO_FILES]
)
def test_bundled_scenario_loads(path: Path) -> None:
    sc = load_scenario(path)
    assert sc.name
    assert sc.start_date.day == 1


# --- overrides replace tagged objects and own what they change -----------------------------


def test_child_can_replace_a_distribution_with_another_kind(workdir: Path) -> None:
    write_child(
        workdir, "field_sales:\n  appointment_delay_days: {dist: uniform, low: 1, high: 2}\n"
    )
    sc = load_scenario(CHILD)
    assert sc.field_sales.appointment_delay_days == Uniform(low=1, high=2)


def test_negative_uniform_over_a_base_lognormal_is_located_in_child(workdir: Path) -> None:
    write_child(
        workdir, "field_sales:\n  appointment_delay_days: {dist: uniform, low: -1, high: 2}\n"
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(CHILD)
    problem = only_problem(err)
    assert (problem.file, problem.line) == (CHILD, 3)
    assert problem.path == "field_sales.appointment_delay_days"
    assert "cannot be negative" in problem.message


def test_set_breaking_a_mapping_level_check_is_located_at_set() -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(BASE, ["intent.now=0.3"])
    problem = only_problem(err)
    assert (problem.file, problem.line, problem.path) == ("--set", 1, "intent")
    assert "they sum to 1.2" in problem.message
