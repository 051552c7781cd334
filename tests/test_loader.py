"""Tests of sim.scenario.loader against small toy models (not the real scenario schema)."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.errors import ScenarioError
from sim.scenario.loader import apply_overrides, load, read_layered, validate


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Fixed(Strict):
    dist: Literal["fixed"]
    value: float


class Lognormal(Strict):
    dist: Literal["lognormal"]
    mean: float
    sd: float = Field(gt=0)


Dist = Annotated[Fixed | Lognormal, Field(discriminator="dist")]


class Phase(Strict):
    name: str
    advance_probability: float = Field(ge=0, le=1)
    duration_days: Dist


class Team(Strict):
    headcount: int = Field(ge=0)
    phases: list[Phase] = Field(default_factory=list)


class Segment(Strict):
    share: float = Field(ge=0, le=1)


class Toy(Strict):
    name: str
    team: Team
    segments: dict[str, Segment] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> Toy:
        total = sum(segment.share for segment in self.segments.values())
        if self.segments and abs(total - 1) > 1e-9:
            raise ValueError(f"segment shares must sum to 1, not {total:g}")
        return self


BASE = """\
name: demo
team:
  headcount: 3
  phases:
    - name: discovery
      advance_probability: 0.5
      duration_days: {dist: fixed, value: 10}
    - name: close
      advance_probability: 0.3
      duration_days:
        dist: lognormal
        mean: 20
        sd: 5
segments:
  smb: {share: 0.7}
  ent: {share: 0.3}
tags: [a, b]
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # File names in messages are relative to cwd, so this keeps them short and predictable.
    monkeypatch.chdir(tmp_path)


def write(name: str, text: str) -> str:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return name


def errors(name: str, sets: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load(Toy, name, sets)
    return [str(problem) for problem in caught.value.problems]


def edited(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new)


def test_valid_file_loads() -> None:
    toy = load(Toy, write("base.yaml", BASE))
    assert toy.team.headcount == 3
    assert isinstance(toy.team.phases[1].duration_days, Lognormal)
    assert toy.segments["smb"].share == pytest.approx(0.7)


# --- file problems --------------------------------------------------------------------------


def test_malformed_yaml() -> None:
    write("bad.yaml", "name: demo\ntags: [a, b\nteam: {}\n")
    assert errors("bad.yaml") == [
        "bad.yaml:3: malformed YAML: while parsing a flow sequence: "
        "expected ',' or ']', but got ':'"
    ]


def test_missing_file() -> None:
    assert errors("nope.yaml") == ["nope.yaml: file not found"]


def test_missing_extended_file() -> None:
    write("child.yaml", "extends: missing.yaml\nname: x\n")
    assert errors("child.yaml") == [
        "child.yaml:1: extends: cannot load missing.yaml: file not found"
    ]


def test_circular_extends() -> None:
    write("a.yaml", "extends: b.yaml\nname: a\n")
    write("b.yaml", "name: b\nextends: a.yaml\n")
    assert errors("a.yaml") == ["b.yaml:2: extends: circular extends: a.yaml -> b.yaml -> a.yaml"]


def test_self_extension() -> None:
    write("a.yaml", "extends: ./a.yaml\n")
    assert errors("a.yaml") == ["a.yaml:1: extends: circular extends: a.yaml -> a.yaml"]


def test_duplicate_key() -> None:
    write("dup.yaml", edited("  phases:", "  headcount: 4\n  phases:"))
    assert errors("dup.yaml") == [
        "dup.yaml:4: team.headcount: duplicate key (first defined on line 3)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# nothing\n", "x.yaml: file is empty; expected a mapping"),
        ("- a\n- b\n", "x.yaml:1: top level must be a mapping (got ['a', 'b'])"),
        ("extends: [a.yaml]\n", "x.yaml:1: extends: must be a file path (got ['a.yaml'])"),
    ],
)
def test_file_shape_problems(text: str, expected: str) -> None:
    write("x.yaml", text)
    assert errors("x.yaml") == [expected]


# --- validation problems --------------------------------------------------------------------


def test_unknown_key_lists_allowed_fields() -> None:
    write("x.yaml", edited("  headcount: 3", "  headcont: 3"))
    assert errors("x.yaml") == [
        "x.yaml:2: team.headcount: required field is missing",
        "x.yaml:3: team.headcont: unknown field (allowed: headcount, phases) (got 3)",
    ]


def test_unknown_key_in_dict_of_models_and_union_member() -> None:
    text = edited("  ent: {share: 0.3}", "  ent: {share: 0.3, size: 9}")
    write("x.yaml", text.replace("        sd: 5", "        sd: 5\n        median: 4"))
    assert errors("x.yaml") == [
        "x.yaml:14: team.phases.1.duration_days.median: unknown field "
        "(allowed: dist, mean, sd) (got 4)",
        "x.yaml:17: segments.ent.size: unknown field (allowed: share) (got 9)",
    ]


def test_wrong_type() -> None:
    write("x.yaml", edited("headcount: 3", "headcount: lots"))
    assert errors("x.yaml") == [
        "x.yaml:3: team.headcount: Input should be a valid integer, "
        "unable to parse string as an integer (got 'lots')"
    ]


def test_probability_out_of_range() -> None:
    write("x.yaml", edited("advance_probability: 0.5", "advance_probability: 1.5"))
    assert errors("x.yaml") == [
        "x.yaml:6: team.phases.0.advance_probability: "
        "Input should be less than or equal to 1 (got 1.5)"
    ]


def test_missing_required_field_in_list_item() -> None:
    write("x.yaml", edited("    - name: close\n      advance", "    - advance"))
    assert errors("x.yaml") == ["x.yaml:8: team.phases.1.name: required field is missing"]


def test_error_inside_tagged_union_member_has_no_tag_in_path() -> None:
    write("x.yaml", edited("sd: 5", "sd: -1"))
    assert errors("x.yaml") == [
        "x.yaml:13: team.phases.1.duration_days.sd: Input should be greater than 0 (got -1)"
    ]


def test_missing_field_of_tagged_union_member() -> None:
    write("x.yaml", edited("{dist: fixed, value: 10}", "{dist: fixed}"))
    assert errors("x.yaml") == [
        "x.yaml:7: team.phases.0.duration_days.value: required field is missing"
    ]


def test_model_validator_message_without_value_error_prefix() -> None:
    write("x.yaml", edited("{share: 0.7}", "{share: 0.6}"))
    (problem,) = errors("x.yaml")
    assert problem.startswith("x.yaml:1: segment shares must sum to 1, not 0.9 (got {")


def test_errors_are_sorted_by_line() -> None:
    write("x.yaml", edited("sd: 5", "sd: -1").replace("headcount: 3", "headcount: -3"))
    assert [problem.split(": ")[0] for problem in errors("x.yaml")] == ["x.yaml:3", "x.yaml:13"]


# --- extends --------------------------------------------------------------------------------

CHILD = """\
extends: ../base.yaml
team:
  headcount: 5
tags: [c]
segments: null
"""


def test_extends_merges_dicts_and_replaces_lists_and_nulls() -> None:
    write("base.yaml", BASE)
    write("sub/child.yaml", CHILD)
    data, sources = read_layered("sub/child.yaml")
    assert "extends" not in data
    assert data["team"]["headcount"] == 5
    assert data["team"]["phases"][1]["name"] == "close"  # merged from the base
    assert data["tags"] == ["c"]
    assert data["segments"] is None
    assert sources[()] == ("sub/child.yaml", 1)
    assert sources[("team",)] == ("sub/child.yaml", 2)
    assert sources[("team", "headcount")] == ("sub/child.yaml", 3)
    assert sources[("team", "phases", 1, "name")] == ("base.yaml", 8)
    assert sources[("tags", 0)] == ("sub/child.yaml", 4)
    assert ("tags", 1) not in sources
    assert not [path for path in sources if path[:1] == ("segments",) and len(path) > 1]
    assert ("extends",) not in sources


def test_error_in_overridden_value_points_at_child() -> None:
    write("base.yaml", BASE)
    write("sub/child.yaml", CHILD.replace("headcount: 5", "headcount: -5"))
    assert errors("sub/child.yaml") == [
        "sub/child.yaml:3: team.headcount: Input should be greater than or equal to 0 (got -5)",
        "sub/child.yaml:5: segments: Input should be a valid dictionary (got None)",
    ]


def test_error_in_inherited_value_points_at_parent() -> None:
    write("base.yaml", edited("sd: 5", "sd: 0"))
    write("child.yaml", "extends: base.yaml\nname: child\n")
    assert errors("child.yaml") == [
        "base.yaml:13: team.phases.1.duration_days.sd: Input should be greater than 0 (got 0)"
    ]


# --- overrides ------------------------------------------------------------------------------


def test_set_scalars_list_index_and_new_nested_key() -> None:
    write("base.yaml", BASE)
    toy = load(
        Toy,
        "base.yaml",
        [
            "team.headcount=12",
            "team.phases.0.advance_probability=0.25",
            "segments.smb.share=0.6",
            "segments.mid={share: 0.1}",
            "tags=[x, y, z]",
        ],
    )
    assert toy.team.headcount == 12
    assert toy.team.phases[0].advance_probability == pytest.approx(0.25)
    assert toy.segments["mid"].share == pytest.approx(0.1)
    assert toy.tags == ["x", "y", "z"]


def test_set_replaces_union_member_and_records_source() -> None:
    data, sources = read_layered(write("base.yaml", BASE))
    item = "team.phases.1.duration_days={dist: fixed, value: 3}"
    new, new_sources = apply_overrides(data, sources, ["name=x", item])
    assert new["team"]["phases"][1]["duration_days"] == {"dist": "fixed", "value": 3}
    assert new_sources[("team", "phases", 1, "duration_days")] == ("--set", 2)
    assert ("team", "phases", 1, "duration_days", "sd") not in new_sources
    assert validate(Toy, new, new_sources).team.phases[1].duration_days == Fixed(
        dist="fixed", value=3
    )


def test_set_new_nested_key_is_left_to_the_schema() -> None:
    write("base.yaml", BASE)
    assert errors("base.yaml", ("name=x", "team.extra.deep=1")) == [
        "--set:2: team.extra: unknown field (allowed: headcount, phases) (got {'deep': 1})"
    ]


def test_set_validation_error_shows_position() -> None:
    write("base.yaml", BASE)
    assert errors("base.yaml", ("tags=[x]", "team.headcount=-1")) == [
        "--set:2: team.headcount: Input should be greater than or equal to 0 (got -1)"
    ]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("team.headcount", "team.headcount: expected dotted.path=value"),
        ("=3", "expected dotted.path=value"),
        ("team..headcount=3", "team..headcount: expected dotted.path=value"),
        (
            "tags=[a",
            "tags: malformed value: while parsing a flow sequence: expected ',' or ']', but got",
        ),
        ("team.phases.5.name=x", "team.phases.5.name: index 5 is out of range: team.phases has 2"),
        (
            "team.phases.first.name=x",
            "team.phases.first.name: team.phases is a list, so 'first' must be an item index",
        ),
        (
            "name.first=x",
            "name.first: cannot set 'first' inside name: it is a single value, not a mapping",
        ),
    ],
)
def test_bad_set(item: str, message: str) -> None:
    data, sources = read_layered(write("base.yaml", BASE))
    with pytest.raises(ScenarioError) as caught:
        apply_overrides(data, sources, ["name=ok", item])
    (problem,) = caught.value.problems
    assert str(problem).startswith(f"--set:2: {message}")
    assert str(problem).endswith(f"(got {item!r})")


def test_overrides_do_not_mutate_input() -> None:
    data, sources = read_layered(write("base.yaml", BASE))
    before = copy.deepcopy((data, sources))
    apply_overrides(data, sources, ["team.phases.0.name=x", "segments.new.share=1", "tags=[]"])
    assert (data, sources) == before


def test_override_of_yaml_alias_changes_only_that_path() -> None:
    text = "name: x\nteam: {headcount: 1}\nsegments:\n  a: &s {share: 0.5}\n  b: *s\n"
    data, sources = read_layered(write("x.yaml", text))
    new, _ = apply_overrides(data, sources, ["segments.a.share=0.75"])
    assert new["segments"]["b"]["share"] == 0.5
