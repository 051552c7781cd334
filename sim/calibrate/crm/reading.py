"""Reading the two CSV files row by row into :class:`CrmData`, with a report of every row
changed or left out."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.calibrate.crm.dates import DateColumn, parse_dates
from sim.calibrate.crm.mapping import (
    ColumnMap,
    guess_column_map,
    load_column_map,
    preset_map,
    stage_columns,
)
from sim.calibrate.report import (
    AFTER_AS_OF,
    BAD_AMOUNT,
    BAD_DATE,
    BAD_OUTCOME,
    DUPLICATE_DEAL,
    DUPLICATE_LEAD,
    EMPTY_ID,
    NO_AMOUNT,
    ORPHAN_DEAL,
    STAGE_ORDER,
    UNKNOWN_CHANNEL,
    WON_BEFORE_CREATED,
    CrmError,
    Report,
)
from sim.errors import Problem

PathLike = str | os.PathLike[str]


def _read_csv(path: PathLike) -> pd.DataFrame:
    name = os.fspath(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                encoding="utf-8-sig",
                skipinitialspace=True,
                index_col=False,
            )
    except (pd.errors.ParserError, pd.errors.ParserWarning):
        raise CrmError(_ragged_rows(path)) from None
    except FileNotFoundError:
        raise CrmError([Problem("no such file", file=name)]) from None
    except IsADirectoryError:
        raise CrmError([Problem("is a directory, not a CSV file", file=name)]) from None
    except pd.errors.EmptyDataError:
        raise CrmError(
            [Problem("file is empty; expected a CSV with a header", file=name)]
        ) from None
    except UnicodeDecodeError as err:
        raise CrmError([Problem(f"not UTF-8 text: {err.reason}", file=name)]) from None
    except OSError as err:
        raise CrmError([Problem(f"cannot read: {err.strerror}", file=name)]) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    for column in frame.columns:
        frame[column] = frame[column].str.strip()
    return frame


def _ragged_rows(path: PathLike, limit: int = 5) -> list[Problem]:
    """Rows whose number of fields differs from the header's, or where a quote is not closed."""
    name = os.fspath(path)
    bad: list[Problem] = []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = csv.reader(handle)
        last = 0
        try:
            header = len(next(rows, []))
            last = rows.line_num
            for row in rows:
                if len(row) != header and row:
                    message = f"malformed CSV: {len(row)} fields where the header has {header}"
                    bad.append(Problem(message, file=name, line=rows.line_num))
                last = rows.line_num
        except csv.Error as err:  # e.g. an opening quote never closed swallows the rest
            message = f"malformed CSV: {err} (a quote opened in this row is never closed?)"
            bad.append(Problem(message, file=name, line=last + 1))
    return bad[:limit] or [Problem("malformed CSV", file=name)]


def _check_columns(frame: pd.DataFrame, wanted: dict[str, str | None], file: str) -> list[Problem]:
    have = list(frame.columns)
    return [
        Problem(
            f"missing column {column!r} (mapped as {role}); the columns are {', '.join(have)}",
            role,
            file,
            1,
        )
        for role, column in wanted.items()
        if column is not None and column not in have
    ]


# -- the result -----------------------------------------------------------------------------

LEAD_COLUMNS = (
    "lead_id",
    "line",
    "created",
    "channel",
    "won",
    "lost",
    "lost_at",
    "stage",
    "segment",
    "owner_inside_sales",
    "owner_field_sales",
    "amount",
    "deal_line",
)


@dataclass(frozen=True)
class CrmData:
    """Usable leads, one row each, with their deal attached.

    Attributes
    ----------
    leads
        Columns: lead_id, line (in the leads file), created, channel, won (NaT unless won),
        lost (a recorded loss: final), lost_at (its date, NaT if unknown), stage (an open
        deal's current stage, None if unknown), segment (product or segment, None if
        unknown), one ``stage:NAME`` column per stage,
        owner_inside_sales, owner_field_sales (None if unknown), amount (annual, NaN if
        unknown), deal_line (line in the deals file, 0 if no deal).
    stages
        Intermediate stage names, in funnel order.
    channels
        Channel names, most leads first.
    as_of
        Export date: leads not won by then are open (censored), not lost.
    deals_from
        First date the deals file covers; leads created earlier enter the fits late.
    leads_to
        Last day the leads file covers.
    files
        The leads and deals file names, as given.
    has_amounts
        Whether any deal has an amount.
    teams
        Team -> its owner-id column in the deals file (only teams that have one).
    report
        Warnings and notes from reading.
    """

    leads: pd.DataFrame
    stages: tuple[str, ...]
    channels: tuple[str, ...]
    as_of: pd.Timestamp
    deals_from: pd.Timestamp
    leads_to: pd.Timestamp
    files: tuple[str, str]
    has_amounts: bool
    teams: dict[str, str]
    report: Report

    def cut(self, cutoff: dt.date) -> CrmData:
        """What was known just before ``cutoff``: earlier leads, their earlier wins and stages.

        Later wins, losses and stage dates become unknown (the lead is open at the cutoff);
        losses without a date are kept as losses. An open deal's stage at the cutoff is the
        last stage it had entered by then if stage dates are known, else unknown (None): the
        export shows only today's stage.
        """
        at = pd.Timestamp(cutoff)
        leads = self.leads[self.leads["created"] < at].copy()
        later = leads["won"] >= at
        leads.loc[later, "won"] = pd.NaT
        leads.loc[later, "deal_line"] = 0
        later_loss = leads["lost_at"] >= at
        leads.loc[later_loss, "lost"] = False
        leads.loc[later_loss, "lost_at"] = pd.NaT
        leads["stage"] = None
        for stage in self.stages:
            col = f"stage:{stage}"
            leads.loc[leads[col] >= at, col] = pd.NaT
            open_ = leads["won"].isna() & ~leads["lost"] & leads[col].notna()
            leads.loc[open_, "stage"] = stage
        counts = leads["channel"].value_counts()
        report = Report(
            warnings=list(self.report.warnings),
            kinds=list(self.report.kinds),
            counts=self.report.counts.copy(),
            notes=[*self.report.notes, f"data cut at {cutoff}: what was known before it"],
        )
        return dataclasses.replace(
            self,
            leads=leads.reset_index(drop=True),
            channels=tuple(str(c) for c in counts.index),
            as_of=at,
            leads_to=at - pd.Timedelta(days=1),
            report=report,
        )


def read_crm(
    leads: PathLike,
    deals: PathLike | None = None,
    columns: ColumnMap | PathLike | None = None,
    as_of: dt.date | None = None,
    *,
    preset: str | None = None,
) -> CrmData:
    """Read CRM exports of leads and deals, checking every row.

    Parameters
    ----------
    leads, deals
        The CSV files. ``deals`` None (or the same file): a one-file opportunity export,
        each row both the lead and its deal.
    columns
        A :class:`ColumnMap`, the path of one (YAML), or None to use ``preset`` or, without
        one, to guess from the headers.
    as_of
        The export date (default: the latest date in either file). Leads not won or lost by
        then are open; later rows are left out (counted).
    preset
        A built-in map (:data:`PRESETS`): ``salesforce``, ``hubspot``, ``opportunities`` (a
        plain snake_case opportunity table) or ``olist``.

    Returns
    -------
    CrmData
        The usable leads with their deals, and the report of what was changed or left out.

    Raises
    ------
    CrmError
        For input that cannot be used: a missing file or column, a date format that cannot
        be told or that most dates do not follow, no usable lead, or a map that makes every
        deal a win or every deal open.
    """
    one_file = deals is None or os.fspath(deals) == os.fspath(leads)
    names = (os.fspath(leads), os.fspath(leads if deals is None else deals))
    report = Report()
    lead_rows = _read_csv(leads)
    deal_rows = lead_rows if one_file else _read_csv(names[1])
    if columns is not None and preset is not None:
        raise CrmError([Problem("give a column map or a preset, not both", "--preset")])
    if isinstance(columns, ColumnMap):
        cmap = columns
    elif columns is not None:
        cmap = load_column_map(columns)
    elif preset is not None:
        cmap = preset_map(preset, list(lead_rows.columns), list(deal_rows.columns), report)
    else:
        cmap = guess_column_map(list(lead_rows.columns), list(deal_rows.columns), names, report)
    if cmap.deals.lead_id is None:
        if not one_file:
            raise CrmError(
                [Problem("deals.lead_id is needed when the deals are in a file of their own")]
            )
        cmap = cmap.model_copy(
            update={"deals": cmap.deals.model_copy(update={"lead_id": cmap.leads.id})}
        )
    cmap = stage_columns(cmap, list(deal_rows.columns))
    lc, dc = cmap.leads, cmap.deals
    lead_cols: dict[str, str | None] = {
        "leads.id": lc.id,
        "leads.created": lc.created,
        "leads.channel": lc.channel,
    }
    deal_cols: dict[str, str | None] = {
        "deals.lead_id": dc.lead_id,
        "deals.won": dc.won,
        "deals.closed": dc.closed,
        "deals.outcome": dc.outcome,
        "deals.owners.inside_sales": dc.owners.inside_sales,
        "deals.owners.field_sales": dc.owners.field_sales,
        "deals.amount": dc.amount,
        "deals.segment": dc.segment,
    }
    deal_cols |= {f"deals.stages.{s.name}": s.column for s in dc.stages}
    problems = _check_columns(lead_rows, lead_cols, names[0])
    problems += _check_columns(deal_rows, deal_cols, names[1])
    if problems:
        raise CrmError(problems)
    if lead_rows.empty:
        raise CrmError([Problem("no rows below the header", file=names[0])])
    return _Reader(cmap, names, lead_rows, deal_rows, report).read(as_of)


class _Reader:
    """The row-by-row checks of :func:`read_crm`, in order."""

    def __init__(
        self,
        cmap: ColumnMap,
        names: tuple[str, str],
        lead_rows: pd.DataFrame,
        deal_rows: pd.DataFrame,
        report: Report,
    ) -> None:
        self.cmap = cmap
        self.names = names
        self.report = report
        self.lead_rows = lead_rows
        self.deal_rows = deal_rows
        self.lead_lines = np.arange(len(lead_rows)) + 2  # line 1 is the header
        self.deal_lines = np.arange(len(deal_rows)) + 2

    def warn(self, kind: str, message: str, column: str, file: str, line: int, value: Any) -> None:
        self.report.warn(kind, Problem(message, column, file, int(line), value))

    def read(self, as_of: dt.date | None) -> CrmData:
        cmap, (lf, df) = self.cmap, self.names
        dc = cmap.deals
        date_cols = [
            DateColumn(lf, cmap.leads.created, self.lead_rows[cmap.leads.created], self.lead_lines),
            DateColumn(df, dc.date, self.deal_rows[dc.date], self.deal_lines),
        ]
        date_cols += [
            DateColumn(df, s.column, self.deal_rows[s.column], self.deal_lines) for s in dc.stages
        ]
        parsed = parse_dates(date_cols, cmap.date_format, self.report)
        leads, dropped = self._leads(parsed[date_cols[0].label])
        deals = self._deals(parsed, date_cols, set(leads["lead_id"]), dropped)
        table = leads.merge(deals, on="lead_id", how="left", validate="one_to_one")
        return self._finish(table, as_of)

    # -- leads ----------------------------------------------------------------------------
    def _leads(self, created: pd.Series) -> tuple[pd.DataFrame, dict[str, str]]:
        cmap, file = self.cmap, self.names[0]
        rows = self.lead_rows
        ids = rows[cmap.leads.id]
        keep = np.ones(len(rows), dtype=bool)
        dropped: dict[str, str] = {}
        for i in np.flatnonzero((ids == "").to_numpy()):
            self.warn(
                EMPTY_ID, "empty lead id: row left out", cmap.leads.id, file, self.lead_lines[i], ""
            )
            keep[i] = False
        for i in np.flatnonzero(keep & created.isna().to_numpy()):
            raw = rows[cmap.leads.created].iloc[i]
            self.warn(
                BAD_DATE,
                "unparseable or empty created date: lead left out",
                cmap.leads.created,
                file,
                self.lead_lines[i],
                raw,
            )
            keep[i] = False
            dropped[ids.iloc[i]] = f"{file}:{self.lead_lines[i]} has no usable created date"
        dup = ids.duplicated(keep=False).to_numpy() & keep
        first_line: dict[str, int] = {}
        for i in np.flatnonzero(dup):
            lead = ids.iloc[i]
            if lead not in first_line:
                first_line[lead] = int(self.lead_lines[i])
                continue
            self.warn(
                DUPLICATE_LEAD,
                f"lead id already on line {first_line[lead]}: this row left out",
                cmap.leads.id,
                file,
                self.lead_lines[i],
                lead,
            )
            keep[i] = False
        channel = self._channels(keep)
        table = pd.DataFrame(
            {
                "lead_id": ids[keep].to_numpy(),
                "line": self.lead_lines[keep],
                "created": created[keep].to_numpy(),
                "channel": channel[keep],
            }
        )
        return table, dropped

    def _channels(self, keep: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        cmap, file = self.cmap, self.names[0]
        column = cmap.leads.channel
        if column is None:
            return np.full(len(self.lead_rows), "all", dtype=object)
        raw = self.lead_rows[column].to_numpy(dtype=object)
        mapping = cmap.channels
        out = np.empty(len(raw), dtype=object)
        allowed = sorted(set(mapping.values())) if mapping is not None else []
        for i, value in enumerate(raw):
            name = value if mapping is None else mapping.get(value)
            if name is None or name == "":
                name = cmap.unknown_channel
                if keep[i]:
                    what = "empty channel" if value == "" else "channel not in the column map"
                    allowed_text = f" (channels: {', '.join(allowed)})" if allowed else ""
                    self.warn(
                        UNKNOWN_CHANNEL,
                        f"{what}: counted as {cmap.unknown_channel!r}{allowed_text}",
                        column,
                        file,
                        self.lead_lines[i],
                        value,
                    )
            out[i] = name
        return out

    # -- deals ----------------------------------------------------------------------------
    def _deals(
        self,
        parsed: dict[str, pd.Series],
        date_cols: list[DateColumn],
        lead_ids: set[str],
        dropped: dict[str, str],
    ) -> pd.DataFrame:
        cmap, file = self.cmap, self.names[1]
        dc = cmap.deals
        rows = self.deal_rows
        n = len(rows)
        won = parsed[date_cols[1].label].copy()
        outcome = self._outcomes()
        keep = np.ones(n, dtype=bool)
        ids = rows[dc.lead_id]
        for i in np.flatnonzero((ids == "").to_numpy()):
            self.warn(
                EMPTY_ID,
                "empty lead id: deal left out",
                str(dc.lead_id),
                file,
                self.deal_lines[i],
                "",
            )
            keep[i] = False
        won_raw = rows[dc.date]
        has_outcome = dc.outcome is not None
        # the outcome decides: a dated row is won unless its outcome says lost or open
        decided_won = (outcome == "won") | ((outcome == "") & won.notna().to_numpy())
        bad_won = (
            (won_raw != "").to_numpy()
            & won.isna().to_numpy()
            & ~((outcome == "open") | (outcome == "lost"))
        )
        bad_won |= decided_won & won.isna().to_numpy()
        unusable = np.flatnonzero(bad_won & keep)
        for i in unusable:
            self.warn(
                BAD_DATE,
                "won deal without a usable date: the deal and its lead are left out",
                dc.date,
                file,
                self.deal_lines[i],
                won_raw.iloc[i],
            )
            keep[i] = False
        is_won = decided_won & won.notna().to_numpy()
        lost = outcome == "lost"
        lost_at = won.where(lost).to_numpy()
        undated = int((keep & lost & won.isna().to_numpy()).sum())
        if undated:
            self.report.note(
                f"{undated} lost deals have no {dc.date}: lost at an unknown date (a back-test "
                "cannot tell whether they were open at its cutoff; taken as lost before it)"
            )
        open_dated = int((keep & (outcome == "open") & won.notna().to_numpy()).sum())
        if open_dated and has_outcome:
            self.report.note(
                f"{open_dated} open deals have a {dc.date}: an expected close date, not an "
                "event (ignored)"
            )
        if dc.won is not None and has_outcome:
            relabelled = int((keep & lost & won.notna().to_numpy()).sum())
            if relabelled:
                self.report.note(
                    f"{relabelled} deals with a {dc.won} are lost by {dc.outcome}: the column "
                    "holds close dates, and they are losses (map it as deals.closed)"
                )
        for i in np.flatnonzero(keep & ~ids.isin(lead_ids).to_numpy() & (ids != "").to_numpy()):
            lead = ids.iloc[i]
            why = dropped.get(lead)
            message = (
                f"its lead was left out ({why}): deal left out"
                if why
                else f"no lead with this id in {self.names[0]}: deal left out"
            )
            self.warn(ORPHAN_DEAL, message, str(dc.lead_id), file, self.deal_lines[i], lead)
            keep[i] = False
        chosen = self._one_deal_per_lead(ids, keep, is_won, won)
        stages = {
            f"stage:{s.name}": parsed[col.label].to_numpy()
            for s, col in zip(dc.stages, date_cols[len(date_cols) - len(dc.stages) :], strict=True)
        }
        table = pd.DataFrame(
            {
                "lead_id": ids.to_numpy(),
                "won": won.where(is_won).to_numpy(),
                "lost": lost,
                "lost_at": lost_at,
                "stage": self._stage_names(outcome),
                "segment": self._owner(dc.segment),
                "owner_inside_sales": self._owner(dc.owners.inside_sales),
                "owner_field_sales": self._owner(dc.owners.field_sales),
                "amount": self._amounts(is_won & chosen),
                "deal_line": self.deal_lines,
                **stages,
            }
        )
        table = table[chosen].reset_index(drop=True)
        # a lead whose only win has no usable date cannot be placed in time: leave it out
        unplaced = sorted(set(ids.iloc[unusable]) - set(table["lead_id"]))
        if unplaced:
            marks = pd.DataFrame({"lead_id": unplaced, "deal_line": -1})
            table = pd.concat([table, marks], ignore_index=True)
        return table

    def _outcomes(self) -> np.ndarray[Any, Any]:
        """'won', 'lost', 'open' or '' (no outcome column) per deal row."""
        cmap, file = self.cmap, self.names[1]
        column = cmap.deals.outcome
        if column is None:
            return np.full(len(self.deal_rows), "", dtype=object)
        values = cmap.outcome_values
        lookup = {v.lower(): k for k in ("won", "lost", "open") for v in getattr(values, k)}
        raw = self.deal_rows[column].to_numpy(dtype=object)
        out = np.empty(len(raw), dtype=object)
        allowed = ", ".join(repr(v) for v in lookup if v)
        quiet = values.other == "open"
        for i, value in enumerate(raw):
            kind = lookup.get(str(value).lower())
            if kind is None and quiet:
                kind = "open"
            elif kind is None:
                self.warn(
                    BAD_OUTCOME,
                    f"unrecognised outcome, taken as open (known: {allowed}; outcome_values."
                    "other: open takes every other value as an open stage)",
                    column,
                    file,
                    self.deal_lines[i],
                    value,
                )
                kind = "open"
            out[i] = kind
        return out

    def _one_deal_per_lead(
        self,
        ids: pd.Series,
        keep: np.ndarray[Any, Any],
        is_won: np.ndarray[Any, Any],
        won: pd.Series,
    ) -> np.ndarray[Any, Any]:
        """Keep one deal row per lead: its earliest win if any, else its first row."""
        file, column = self.names[1], str(self.cmap.deals.lead_id)
        order = pd.DataFrame(
            {
                "id": ids.to_numpy(),
                "not_won": ~is_won,
                "won": won.to_numpy(),
                "row": np.arange(len(ids)),
            }
        )[keep]
        order = order.sort_values(["id", "not_won", "won", "row"], na_position="last")
        first = ~order["id"].duplicated()
        chosen = np.zeros(len(ids), dtype=bool)
        chosen[order["row"][first].to_numpy()] = True
        kept_line = dict(
            zip(order["id"][first], self.deal_lines[order["row"][first].to_numpy()], strict=True)
        )
        for i in sorted(order["row"][~first].tolist()):
            lead = ids.iloc[i]
            self.warn(
                DUPLICATE_DEAL,
                f"another deal of this lead is kept (line {kept_line[lead]}): row left out",
                column,
                file,
                self.deal_lines[i],
                lead,
            )
        return chosen

    def _stage_names(self, outcome: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """The outcome column's raw value where it names an open stage, else None."""
        column = self.cmap.deals.outcome
        out = np.full(len(self.deal_rows), None, dtype=object)
        if column is None:
            return out
        raw = self.deal_rows[column].to_numpy(dtype=object)
        mask = (outcome == "open") & (raw != "")
        out[mask] = raw[mask]
        return out

    def _owner(self, column: str | None) -> np.ndarray[Any, Any]:
        if column is None:
            return np.full(len(self.deal_rows), None, dtype=object)
        raw = self.deal_rows[column].to_numpy(dtype=object)
        raw[raw == ""] = None
        return raw

    def _amounts(self, won: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        dc, file = self.cmap.deals, self.names[1]
        if dc.amount is None:
            return np.full(len(self.deal_rows), np.nan)
        raw = self.deal_rows[dc.amount]
        clean = raw.str.replace(r"[,\s$€£]", "", regex=True)
        value = pd.to_numeric(clean, errors="coerce").to_numpy(dtype=float)
        for i in np.flatnonzero((raw != "").to_numpy() & np.isnan(value)):
            self.warn(
                BAD_AMOUNT,
                "amount is not a number: taken as unknown",
                dc.amount,
                file,
                self.deal_lines[i],
                raw.iloc[i],
            )
        value = np.where(value > 0, value, np.nan)
        missing = int((won & np.isnan(value)).sum())
        if missing:
            self.report.counts[NO_AMOUNT] += missing
            self.report.note(
                f"{missing} of {int(won.sum())} won deals have no positive {dc.amount}: "
                "their size is unknown (left out of the deal-size fit)"
            )
        return value * (12.0 if dc.amount_period == "month" else 1.0)

    # -- together -------------------------------------------------------------------------
    def _finish(self, table: pd.DataFrame, as_of: dt.date | None) -> CrmData:
        cmap = self.cmap
        lf, df = self.names
        excluded = table["deal_line"] == -1
        table = table[~excluded].reset_index(drop=True)
        table["deal_line"] = table["deal_line"].fillna(0).astype(int)
        table["lost"] = table["lost"].astype("boolean").fillna(False).astype(bool)
        table["lost_at"] = pd.to_datetime(table["lost_at"])
        table.loc[table["won"].notna(), "lost"] = False
        table.loc[~table["lost"], "lost_at"] = pd.NaT
        stages = tuple(s.name for s in cmap.deals.stages)
        for name in stages:
            self._order_stages(table, name, stages)
        early = table["won"] < table["created"]
        for i in np.flatnonzero(early.to_numpy()):
            row = table.iloc[i]
            days = (row["created"] - row["won"]).total_seconds() / 86400
            self.warn(
                WON_BEFORE_CREATED,
                f"won {days:.1f} days before its lead was created ({lf}:{row['line']}, "
                f"{row['created']:%Y-%m-%d}): lead-to-win time taken as 0",
                cmap.deals.date,
                df,
                row["deal_line"],
                f"{row['won']:%Y-%m-%d %H:%M}",
            )
        table.loc[early, "won"] = table.loc[early, "created"]
        date_cols = ["created", "won", *(f"stage:{s}" for s in stages)]
        latest = max(table[c].max() for c in date_cols if table[c].notna().any())
        if as_of is None:
            cut = latest
        else:  # the whole as-of day is known
            cut = pd.Timestamp(as_of) + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
            table = self._after_as_of(table, cut, stages)
        if table.empty:
            raise CrmError([Problem("no usable lead: every row was left out", file=lf)])
        self._refuse_degenerate(table)
        if stages:
            self._current_stage(table, stages)
        deal_dates = [table[c].min() for c in date_cols[1:] if table[c].notna().any()]
        first_record = min(deal_dates, default=cut)
        deals_from = first_record
        if cmap.deals_from is not None:
            deals_from = min(pd.Timestamp(cmap.deals_from), first_record)
        counts = table["channel"].value_counts()
        owners = cmap.deals.owners
        named = {"inside_sales": owners.inside_sales, "field_sales": owners.field_sales}
        teams = {team: col for team, col in named.items() if col is not None}
        self.report.note(
            f"{len(table):,} leads used of {len(self.lead_rows):,} rows in {lf}; "
            f"{int(table['won'].notna().sum()):,} won deals used of {len(self.deal_rows):,} "
            f"rows in {df}"
        )
        return CrmData(
            leads=table[[*LEAD_COLUMNS, *(f"stage:{s}" for s in stages)]],
            stages=stages,
            channels=tuple(str(c) for c in counts.index),
            as_of=cut,
            deals_from=deals_from,
            leads_to=table["created"].max().normalize(),
            files=self.names,
            has_amounts=bool(table["amount"].notna().any()),
            teams=teams,
            report=self.report,
        )

    def _refuse_degenerate(self, table: pd.DataFrame) -> None:
        """A map that makes every deal a win, or none, is wrong: say why, loudly."""
        dc, df = self.cmap.deals, self.names[1]
        n, won = len(table), int(table["won"].notna().sum())
        seen = ""
        if dc.outcome is not None:
            values = self.deal_rows[dc.outcome].value_counts().head(8)
            seen = "; the outcome values seen are " + ", ".join(
                f"{v!r} ({c})" for v, c in values.items()
            )
        ov = self.cmap.outcome_values
        known = f" (won: {', '.join(map(repr, ov.won))}; lost: {', '.join(map(repr, ov.lost))})"
        if n >= 10 and won == n:
            raise CrmError(
                [
                    Problem(
                        f"the column map makes every one of the {n} deals a win: no loss and "
                        f"no open deal{seen}. If {dc.date!r} is a close date of won and lost "
                        "deals, map it as deals.closed with deals.outcome, and list the "
                        f"values in outcome_values{known}",
                        f"deals.{'won' if dc.won else 'closed'}",
                        df,
                        1,
                    )
                ]
            )
        if won == 0 and dc.outcome is not None and len(self.deal_rows) >= 10:
            raise CrmError(
                [
                    Problem(
                        f"the column map finds no won deal among {n} leads{seen}. Check "
                        f"deals.{'won' if dc.won else 'closed'} ({dc.date!r}) and the won "
                        f"values in outcome_values{known}",
                        f"deals.{'won' if dc.won else 'closed'}",
                        df,
                        1,
                    )
                ]
            )

    @staticmethod
    def _current_stage(table: pd.DataFrame, stages: tuple[str, ...]) -> None:
        """An open deal with stage dates is in the last stage it entered."""
        open_ = table["won"].isna() & ~table["lost"]
        for name in stages:
            entered = open_ & table[f"stage:{name}"].notna()
            table.loc[entered, "stage"] = name

    def _order_stages(self, table: pd.DataFrame, name: str, stages: tuple[str, ...]) -> None:
        """A stage dated before the one it follows is moved to that date (counted)."""
        col = f"stage:{name}"
        k = stages.index(name)
        before = table["created"] if k == 0 else table[f"stage:{stages[k - 1]}"]
        before = before.fillna(table["created"])
        column = self.cmap.deals.stages[k].column
        bad = table[col] < before
        for i in np.flatnonzero(bad.to_numpy()):
            row = table.iloc[i]
            self.warn(
                STAGE_ORDER,
                "dated before the previous stage (or the lead's creation): moved to it",
                column,
                self.names[1],
                row["deal_line"],
                f"{row[col]:%Y-%m-%d}",
            )
        table.loc[bad, col] = before[bad]

    def _after_as_of(
        self, table: pd.DataFrame, cut: pd.Timestamp, stages: tuple[str, ...]
    ) -> pd.DataFrame:
        lf, df = self.names
        late = table["created"] > cut
        for i in np.flatnonzero(late.to_numpy()):
            row = table.iloc[i]
            self.warn(
                AFTER_AS_OF,
                "lead created after the as-of date: left out",
                self.cmap.leads.created,
                lf,
                row["line"],
                f"{row['created']:%Y-%m-%d}",
            )
        table = table[~late].reset_index(drop=True)
        for col in ("won", *(f"stage:{s}" for s in stages)):
            after = table[col] > cut
            for i in np.flatnonzero(after.to_numpy()):
                row = table.iloc[i]
                self.warn(
                    AFTER_AS_OF,
                    f"{col} after the as-of date: taken as not yet happened",
                    col,
                    df,
                    row["deal_line"],
                    f"{row[col]:%Y-%m-%d}",
                )
            table.loc[after, col] = pd.NaT
        later_loss = table["lost_at"] > cut
        table.loc[later_loss, "lost"] = False
        table.loc[later_loss, "lost_at"] = pd.NaT
        return table
