"""The column map: which CSV column is which, from a YAML file, a preset or a guess."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from importlib import resources
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sim.calibrate.report import (
    CrmError,
    Report,
)
from sim.errors import Problem, ScenarioError
from sim.scenario.loader import load, parse_yaml

PathLike = str | os.PathLike[str]


# -- the column map -------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LeadColumns(_Model):
    """Columns of the leads file."""

    id: str = Field(description="the lead id, unique per row")
    created: str = Field(description="date the lead was created (the form fill, the MQL)")
    channel: str | None = Field(None, description="lead source; none: one channel, 'all'")


class Stage(_Model):
    """An intermediate stage with a date column in the deals file (e.g. SQL, opportunity)."""

    name: str
    column: str


class Owners(_Model):
    """Owner id columns in the deals file, by team."""

    inside_sales: str | None = Field(None, description="the SDR who qualified the lead")
    field_sales: str | None = Field(None, description="the AE / sales rep who closed the deal")


class DealColumns(_Model):
    """Columns of the deals file (one row per lead that became a deal).

    Exactly one of ``won`` and ``closed`` names the deal's date column. ``won`` holds the
    date of a win only (empty otherwise), as in the Olist layout; ``closed`` holds the close
    date of won *and* lost deals, as in a Salesforce or HubSpot opportunity export, and needs
    ``outcome`` to tell them apart. With an outcome column, the outcome decides in both cases:
    a lost deal is lost (its date is its close date), and an open deal's date is ignored (an
    open opportunity's close date is the rep's expected date, not an event).
    """

    lead_id: str | None = Field(
        None,
        description="the lead the deal came from (joins the leads file); default: the leads "
        "file's id (a one-file opportunity export)",
    )
    won: str | None = Field(None, description="date the deal was won; empty while open or if lost")
    closed: str | None = Field(
        None, description="close date of won and lost deals (ignored for open ones)"
    )
    outcome: str | None = Field(
        None, description="won / lost / open, or the stage (see outcome_values)"
    )
    stages: list[Stage] = Field(
        default_factory=list, description="intermediate stage dates, in funnel order"
    )
    stage_prefix: str | None = Field(
        None,
        description="every column whose name starts with this is a stage date column, the "
        "rest of the name being the stage (e.g. 'Date Entered '), in the file's order",
    )
    owners: Owners = Field(default_factory=Owners)
    amount: str | None = Field(None, description="deal value (annual unless amount_period)")
    amount_period: Literal["year", "month"] = Field(
        "year", description="month: amounts are monthly and are multiplied by 12"
    )
    segment: str | None = Field(
        None, description="product or segment of the deal (deal sizes are drawn per segment)"
    )

    @model_validator(mode="after")
    def _one_date(self) -> DealColumns:
        if (self.won is None) == (self.closed is None):
            raise ValueError("give exactly one of won (win dates) and closed (close dates)")
        if self.closed is not None and self.outcome is None:
            raise ValueError(
                "closed needs outcome: a close date alone cannot tell a win from a loss"
            )
        return self

    @property
    def date(self) -> str:
        """The deal's date column (``won`` or ``closed``)."""
        return self.won if self.won is not None else str(self.closed)


class OutcomeValues(_Model):
    """Which outcome-column values mean won, lost and open (compared without case)."""

    won: list[str] = Field(default_factory=lambda: ["won", "closed won", "closed_won", "win"])
    lost: list[str] = Field(default_factory=lambda: ["lost", "closed lost", "closed_lost", "loss"])
    open: list[str] = Field(default_factory=lambda: ["open", ""])
    other: Literal["open", "warn"] = Field(
        "warn",
        description="any other value: 'open' (the column holds stage names, and every stage "
        "that is not won or lost is an open stage) or 'warn' (counted as open, with a warning)",
    )


DATE_ORDERS = ("auto", "day_first", "month_first", "iso")


class ColumnMap(_Model):
    """Which column of the CRM exports holds what, and how to read it."""

    leads: LeadColumns
    deals: DealColumns
    date_format: str = Field(
        "auto",
        description="auto (detected), day_first, month_first, iso, or a strftime format "
        "such as '%d-%m-%Y %H:%M'",
    )
    channels: dict[str, str] | None = Field(
        None,
        description="raw channel value -> channel name (several values may share a name); "
        "values not listed are unknown channels",
    )
    unknown_channel: str = Field(
        "unknown", description="channel given to leads with an empty or unlisted channel"
    )
    outcome_values: OutcomeValues = Field(default_factory=OutcomeValues)
    deals_from: dt.date | None = Field(
        None,
        description="first date the deals file covers (default: its earliest date); a lead "
        "created earlier may have converted unseen before it, and the fits allow for that",
    )

    @field_validator("date_format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value not in DATE_ORDERS and "%" not in value:
            raise ValueError(f"must be one of {', '.join(DATE_ORDERS)} or a strftime format")
        return value


def load_column_map(path: PathLike) -> ColumnMap:
    """Read and validate a column map YAML file.

    Raises
    ------
    CrmError
        With every problem located as ``file:line: key: message``.
    """
    try:
        return load(ColumnMap, path)
    except ScenarioError as err:
        raise CrmError(err.problems) from None


_GUESSES: dict[str, tuple[str, ...]] = {
    "leads.id": ("lead_id", "mql_id", "id"),
    "leads.created": (
        "created",
        "created_at",
        "created_date",
        "create_date",
        "first_contact_date",
        "date",
    ),
    "leads.channel": ("channel", "origin", "source", "lead_source", "utm_source"),
    "deals.lead_id": ("lead_id", "mql_id"),
    "deals.won": ("won_date", "won_at", "closed_won_date", "won"),
    "deals.outcome": ("outcome", "status"),
    "deals.owners.inside_sales": ("sdr_id", "sdr", "bdr_id"),
    "deals.owners.field_sales": ("sr_id", "ae_id", "sales_rep_id", "owner_id"),
    "deals.amount": ("amount", "acv", "arr", "deal_amount", "contract_value"),
}
_REQUIRED = ("leads.id", "leads.created", "deals.lead_id", "deals.won")


def guess_column_map(
    leads_header: Sequence[str], deals_header: Sequence[str], names: tuple[str, str], report: Report
) -> ColumnMap:
    """A column map from common column names (case-insensitive), each guess noted.

    Raises
    ------
    CrmError
        If a required column (lead id, created date, deal lead id, won date) has no match.
    """
    headers = {"leads": list(leads_header), "deals": list(deals_header)}
    found: dict[str, str] = {}
    problems = []
    for key, candidates in _GUESSES.items():
        which = key.split(".")[0]
        lower = {h.lower(): h for h in headers[which]}
        match = next((lower[c] for c in candidates if c in lower), None)
        if match is not None:
            found[key] = match
        elif key in _REQUIRED:
            file = names[0] if which == "leads" else names[1]
            problems.append(
                Problem(
                    f"cannot tell which column is {key}: none of {', '.join(candidates)} "
                    f"found; the columns are {', '.join(headers[which])}; give a column map "
                    "(--map)",
                    file=file,
                    line=1,
                )
            )
    if problems:
        raise CrmError(problems)
    report.note(
        "column map guessed from the headers: "
        + ", ".join(f"{key}={col}" for key, col in found.items())
    )
    return ColumnMap(
        leads=LeadColumns(
            id=found["leads.id"], created=found["leads.created"], channel=found.get("leads.channel")
        ),
        deals=DealColumns(
            lead_id=found["deals.lead_id"],
            won=found["deals.won"],
            outcome=found.get("deals.outcome"),
            owners=Owners(
                inside_sales=found.get("deals.owners.inside_sales"),
                field_sales=found.get("deals.owners.field_sales"),
            ),
            amount=found.get("deals.amount"),
        ),
    )


# -- dates ----------------------------------------------------------------------------------


PRESETS = ("salesforce", "hubspot", "opportunities", "olist")
"""Built-in column maps for common export shapes (``sim/calibrate/presets/NAME.yaml``)."""

_OPTIONAL = {
    ("leads", "channel"),
    ("deals", "stage_prefix"),
    ("deals", "amount"),
    ("deals", "segment"),
    ("deals", "owners", "inside_sales"),
    ("deals", "owners", "field_sales"),
}


def preset_map(
    name: str, lead_header: Sequence[str], deal_header: Sequence[str], report: Report
) -> ColumnMap:
    """The built-in column map ``name`` resolved against the files' headers.

    A preset lists, for each field, the column names tried in order; an optional field
    (channel, owners, amount, segment, stage dates) whose columns are all absent is dropped,
    and the choices are noted in ``report``.

    Raises
    ------
    CrmError
        If ``name`` is not a preset, or a required column is absent.
    """
    if name not in PRESETS:
        raise CrmError(
            [
                Problem(
                    f"no such preset; the presets are {', '.join(PRESETS)}", "--preset", value=name
                )
            ]
        )
    text = resources.files("sim.calibrate").joinpath(f"presets/{name}.yaml").read_text("utf-8")
    raw = parse_yaml(text, f"preset {name}")
    headers = {"leads": list(lead_header), "deals": list(deal_header)}
    problems: list[Problem] = []
    chosen: list[str] = []

    def resolve(node: dict[str, Any], path: tuple[str, ...]) -> None:
        for key in list(node):
            value, where = node[key], (*path, key)
            if isinstance(value, dict):
                resolve(value, where)
                continue
            if (
                where[0] not in headers
                or key == "stage_prefix"
                or not isinstance(value, list | str)
            ):
                continue
            names = [value] if isinstance(value, str) else value
            header = headers[where[0]]
            lower = {h.lower(): h for h in header}
            match = next((lower[n.lower()] for n in names if n.lower() in lower), None)
            if match is not None:
                node[key] = match
                chosen.append(f"{'.'.join(where)}={match}")
            elif where in _OPTIONAL:
                del node[key]
            else:
                problems.append(
                    Problem(
                        f"preset {name!r}: no column for {'.'.join(where)} (tried "
                        f"{', '.join(names)}); the columns are {', '.join(header)}; give a "
                        "column map (--map) instead",
                        file=None,
                        line=1,
                    )
                )

    resolve(raw, ())
    prefix = raw.get("deals", {}).get("stage_prefix")
    if prefix is not None and not any(h.startswith(prefix) for h in headers["deals"]):
        del raw["deals"]["stage_prefix"]
    if problems:
        raise CrmError(problems)
    report.note(f"column map: preset {name!r}: " + ", ".join(chosen))
    try:
        return ColumnMap.model_validate(raw)
    except ValidationError as err:  # a preset is ours: this is a bug, say so plainly
        raise CrmError([Problem(f"preset {name!r} is invalid: {err}")]) from None


def stage_columns(cmap: ColumnMap, header: Sequence[str]) -> ColumnMap:
    """The map with ``stage_prefix`` expanded into stage columns (won/lost stages left out)."""
    prefix = cmap.deals.stage_prefix
    if prefix is None:
        return cmap
    values = cmap.outcome_values
    final = {v.lower() for v in (*values.won, *values.lost)}
    stages = list(cmap.deals.stages)
    for column in header:
        if not column.startswith(prefix):
            continue
        name = column[len(prefix) :].strip().strip("'\"")
        bare = name.split(" (")[0].strip().strip("'\"").lower()
        if bare in final or not name:
            continue
        stages.append(Stage(name=name, column=column))
    deals = cmap.deals.model_copy(update={"stages": stages, "stage_prefix": None})
    return cmap.model_copy(update={"deals": deals})
