"""Writing a calibration as an ordinary, commented scenario YAML file.

PyYAML cannot write comments, so the file is generated as text; every fitted number carries a
comment saying what data it came from and its 95% CI, every assumed one says so. The text is
checked by loading it with the scenario schema before it is written.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from sim.calibrate.fit import Calibration, ChannelFit, Transition
from sim.calibrate.survival import Z95, Interval
from sim.io import atomic_write, text_writer
from sim.scenario.loader import parse_yaml
from sim.scenario.schema import Scenario

_BARE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "none", "~"}
_WIDTH = 100
TOUCH_HOURS = 0.5
"""Assumed rep time per lead (base.yaml's 30 minutes a touch), one touch per lead."""
HOURS_PER_REP_MONTH = 8.0 * 5 * 52 / 12
"""Working hours of a rep in an average month (8 h a day, 5 days a week)."""


def _key(name: str) -> str:
    """A mapping key that YAML reads back as the same string."""
    if _BARE_KEY.match(name) and name.lower() not in _YAML_WORDS:
        return name
    return json.dumps(name)


def _num(x: float, digits: int = 4) -> str:
    """A number as short as it can be without losing ``digits`` significant digits."""
    if x == 0:
        return "0"
    text = f"{x:.{digits}g}"
    if "e" in text:
        text = f"{x:.{max(0, digits - 1)}f}".rstrip("0").rstrip(".")
    return text


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _ci_pct(iv: Interval) -> str:
    return f"{_pct(iv.value)} (95% CI {_pct(iv.low)} to {_pct(iv.high)})"


def _ci(iv: Interval, unit: str = "") -> str:
    return f"{_num(iv.value)}{unit} (95% CI {_num(iv.low)} to {_num(iv.high)}{unit})"


def _share(p: float) -> tuple[str, str]:
    """(now, never) written so that they sum to exactly 1."""
    now = round(p, 4)
    return _num(now, 6), _num(round(1.0 - now, 4), 6)


def scenario_yaml(cal: Calibration) -> str:
    """The commented YAML text of a calibrated scenario.

    Parameters
    ----------
    cal
        From :func:`~sim.calibrate.fit.calibrate`.

    Returns
    -------
    str
        A scenario file that :func:`sim.load_scenario` accepts.
    """
    return "\n".join(_Text(cal).lines()) + "\n"


def scenario_of(cal: Calibration) -> Scenario:
    """The validated scenario that :func:`scenario_yaml` writes."""
    return Scenario.model_validate(parse_yaml(scenario_yaml(cal), "calibrated scenario"))


def write_scenario(cal: Calibration, path: str | os.PathLike[str]) -> Path:
    """Write the scenario file atomically, after checking that it loads.

    Returns
    -------
    Path
        The file written.
    """
    text = scenario_yaml(cal)
    scenario_of(cal)  # a file that does not load is a bug here, never the user's input
    out = Path(path)
    if out.parent != Path():
        out.parent.mkdir(parents=True, exist_ok=True)
    return write_text(out, text)


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (aside, then renamed)."""
    return atomic_write(path, text_writer(text))


class _Text:
    """Builds the YAML lines section by section."""

    def __init__(self, cal: Calibration) -> None:
        self.cal = cal
        self.data = cal.data
        self.first = cal.transitions[0]

    def lines(self) -> list[str]:
        return [
            *self._header(),
            *self._top(),
            "",
            *self._marketing(),
            "",
            *self._inside_sales(),
            "",
            *self._field_sales(),
            "",
            *self._customer_success(),
            "",
            *self._recycle(),
            "",
            *self._starting_book(),
        ]

    # -- header ---------------------------------------------------------------------------
    def _header(self) -> list[str]:
        cal, data = self.cal, self.data
        leads = data.leads
        won = leads["won"].dropna()
        lead_file, deal_file = data.files
        fitted = [
            "lead volume per channel (growth where significant, seasonality where two years "
            "show one)",
            "eventual conversion per channel",
            "the time and odds of each recorded step" if data.stages else "the lead-to-win time",
        ]
        if data.teams:
            fitted.append("active reps per team (owner ids)")
        fitted.append("the open pipeline at the start")
        if cal.deal_size is not None:
            fitted.append("deal size")
        assumed = ["cost per lead", "scoring", "touch time and work hours", "field-sales slots"]
        if cal.deal_size is None:
            assumed.insert(0, "deal size (no amounts)")
        if not data.teams:
            assumed.append("headcounts")
        assumed += ["recycling (off)", "customer success and the customer book"]
        out = [
            f"# {cal.name}: calibrated from CRM exports by `revloop calibrate` (revloop.calibrate)",
            f"#   leads: {lead_file}",
            f"#   deals: {deal_file}",
            f"#   {len(leads):,} leads created {leads['created'].min():%Y-%m-%d} to "
            f"{data.leads_to:%Y-%m-%d}; {len(won):,} won {won.min():%Y-%m-%d} to "
            f"{won.max():%Y-%m-%d}",
            f"#   as of {data.as_of:%Y-%m-%d %H:%M}: a lead not won by then is still open "
            "(censored), not lost",
            f"#   deals are recorded from {data.deals_from:%Y-%m-%d}: a lead created earlier may "
            "have won unseen before it,",
            "#   and the fits count that possibility rather than treating it as no win",
        ]
        counts = cal.report.counts
        if counts:
            out.append(
                "#   input warnings: " + "; ".join(f"{kind}: {n}" for kind, n in counts.items())
            )
        out += [
            "# FITTED (95% CI in each comment): " + "; ".join(fitted) + ".",
            "# ASSUMED (the data cannot tell; neutral values or base.yaml defaults, edit freely): "
            + ", ".join(assumed)
            + ".",
            "# The funnel as mapped here: every lead is an MQL and goes to inside sales. A lead's",
            "# intent is 'now' with the odds it eventually converts (its channel's conversion),",
            "# else 'never'; inside sales qualifies 'now' leads and rejects 'never' ones at one",
            "# touch; field sales runs each qualified lead through one phase per recorded step,",
            "# with that step's fitted time (and odds, after the first). Recycling is off: the",
            "# data records no re-engagement, and what recycling did is inside the fitted times.",
        ]
        return _wrap_comments(out)

    def _top(self) -> list[str]:
        cal, data = self.cal, self.data
        size = cal.deal_size
        if size is None:
            acv = [
                "    # ASSUMED: the deals file has no usable amounts, so bookings (new_arr) are 0;",
                "    # put your annual contract value here",
                "    acv: 0",
            ]
        else:
            acv = [
                f"    # FITTED: log-normal of {size.n:,} positive amounts of {size.of_wins:,} won "
                f"deals; mean {_ci(size.mean)}",
                f"    acv: {{dist: lognormal, mean: {_num(size.mean.value)}, sd: {_num(size.sd)}}}",
            ]
        now, never = _share(cal.pooled.value)
        description = (
            f"Calibrated on {Path(data.files[0]).name} and {Path(data.files[1]).name}; "
            f"{cal.horizon_months} months from {cal.start:%Y-%m}"
        )
        return [
            f"name: {_key(cal.name)}",
            f"description: {json.dumps(description)}",
            f"start_date: {cal.start.isoformat()}",
            f"horizon_months: {cal.horizon_months}",
            "",
            "segments:                       # one segment: the data has no segment on its leads",
            "  all:",
            "    share: 1.0",
            *acv,
            "",
            f"# FITTED: eventual conversion of all {self.first.fit.n:,} leads pooled: "
            f"{_ci_pct(cal.pooled)};",
            "# each channel sets its own below",
            f"intent: {{now: {now}, later: 0, never: {never}}}",
            "# unused: no lead is 'later' here (base.yaml's value)",
            "later_active_after_days: {dist: lognormal, mean: 240, sd: 120}",
        ]

    # -- marketing ------------------------------------------------------------------------
    def _marketing(self) -> list[str]:
        cal = self.cal
        grouping = (
            f"per channel (likelihood-ratio test against one pooled conversion: "
            f"p = {cal.grouping_pvalue:.2g})"
            if cal.grouped
            else f"pooled (a conversion per channel is not supported: likelihood-ratio "
            f"p = {cal.grouping_pvalue:.2g})"
        )
        window = cal.volume_months
        out = [
            "marketing:",
            f"  # volumes: quasi-Poisson log-linear fit of the {len(window)} latest complete",
            f"  # months of leads ({window[0]} to {window[-1]}), as expected leads in "
            f"{cal.start:%Y-%m};",
            "  # growth is kept only where its 95% CI excludes 0; without it, the volume is the",
            "  # mean of the latest 3 months",
            f"  # seasonality: {cal.seasonality_source}",
            f"  # conversion: {grouping}",
            "  # ASSUMED: no cost per lead, no follow-up delay, no non-target leads (not in the",
            "  # data)",
            "  channels:",
        ]
        for ch in cal.channels:
            out += self._channel(ch)
        out += self._pipeline_channel()
        out += [
            "  scoring:                      # ASSUMED: every lead in the data is already an MQL,",
            "    fit: []                     # so every lead passes: no points, threshold 0",
            "    behaviour: []",
            "    mql_threshold: 0",
        ]
        return _wrap_comments(out)

    def _channel(self, ch: ChannelFit) -> list[str]:
        vol = ch.volume
        counts = ", ".join(str(c) for c in vol.counts)
        out = [
            f"    {_key(ch.name)}:",
            f"      # {ch.leads:,} leads, {ch.wins:,} won; monthly leads fitted: [{counts}]",
        ]
        if ch.replay is not None:
            out += [
                "      # REPLAYED: the leads actually created in each simulated month",
                f"      monthly_leads: [{', '.join(str(c) for c in ch.replay)}]",
                "      exact_volume: true",
            ]
        else:
            disp = f", dispersion {_num(vol.dispersion, 3)}" if vol.dispersion > 1 else ""
            out.append(
                f"      monthly_leads: {_num(vol.level.value)}    # FITTED: {_ci(vol.level)}{disp}"
            )
            if vol.growth is None:
                out.append("      # growth: not fitted (fewer than 3 months)")
            elif vol.growth_used:
                out.append(
                    f"      growth_per_month: {_num(vol.growth.value)}   # FITTED: "
                    f"{_ci_pct(vol.growth)} a month"
                )
            else:
                out.append(f"      # growth: {_ci_pct(vol.growth)} a month, not significant: none")
            if self.cal.seasonality is not None:
                out.append(
                    "      seasonality: ["
                    + ", ".join(_num(s, 3) for s in self.cal.seasonality)
                    + "]   # FITTED (shared)"
                )
        now, never = _share(ch.conversion.value)
        out += [
            f"      # FITTED: conversion {_ci_pct(ch.conversion)}, from {ch.conversion_source}",
            f"      intent: {{now: {now}, later: 0, never: {never}}}",
        ]
        return out

    def _pipeline_channel(self) -> list[str]:
        cal = self.cal
        name = pipeline_channel(cal)
        if name is None:
            return []
        entries = ", ".join(_num(e, 4) for e in cal.pipeline.entries)
        return [
            f"    {_key(name)}:",
            "      # NOT NEW LEADS: part of the pipeline open at the start (see starting_book),",
            "      # brought in month by month so that, after a fresh lead-to-win time, its wins",
            "      # fall when the fit expects them",
            f"      monthly_leads: [{entries}]",
            "      intent: {now: 1, later: 0, never: 0}",
        ]

    # -- teams ----------------------------------------------------------------------------
    def _inside_sales(self) -> list[str]:
        cal = self.cal
        team = cal.teams.get("inside_sales")
        volume = sum(
            (c.replay[0] if c.replay is not None else c.volume.level.value) for c in cal.channels
        )
        if team is not None:
            head = [f"  # {team.source} ({team.column})", f"  headcount: {team.headcount}"]
            reps = team.headcount
        else:
            reps = max(1, round(2 * volume * TOUCH_HOURS / HOURS_PER_REP_MONTH))
            head = [
                "  # ASSUMED: no owner ids; enough reps to be busy about half the time",
                f"  headcount: {reps}",
            ]
        load = volume * TOUCH_HOURS / (reps * HOURS_PER_REP_MONTH)
        return _wrap_comments(
            [
                "inside_sales:",
                *head,
                f"  # ASSUMED (base.yaml): 8 h a day Mon-Fri, 30 minutes a lead; about "
                f"{_pct(load)} busy in month 1",
                "  calendar: business_hours",
                "  hours_per_day: 8",
                "  work_start_hour: 9",
                "  minutes_per_touch: 30",
                "  queue_policy: fifo",
                "  # one touch decides each lead: the fitted odds already hold the unreached ones",
                "  max_attempts: 1",
                "  attempt_interval_days: 2     # unused with one attempt",
                "  contact_probability: 1.0",
                "  speed_to_lead: null          # the data has no touch times: no extra decay",
                "  patience_days: null",
                "  outcome:",
                "    active: {qualified: 1.0, not_now: 0.0, disqualified: 0.0}   # future wins",
                "    dormant: {qualified: 0.0, not_now: 1.0, disqualified: 0.0}  # unused",
                "    never: {qualified: 0.0, not_now: 0.0, disqualified: 1.0}    # never convert",
            ]
        )

    def _field_sales(self) -> list[str]:
        cal = self.cal
        team = cal.teams.get("field_sales")
        if team is not None:
            head = [f"  # {team.source} ({team.column})", f"  headcount: {team.headcount}"]
        else:
            head = ["  # ASSUMED: no owner ids", "  headcount: 1"]
        out = [
            "field_sales:",
            *head,
            f"  # {cal.fs_slots_source}",
            f"  max_open_opportunities_per_ae: {cal.fs_slots_per_rep}",
            "  appointment_delay_days: 0    # the time from lead to win is in the phases",
            "  acceptance_probability: {active: 1.0, dormant: 1.0, never: 1.0}",
            "  phases:",
        ]
        for tr in cal.transitions:
            out += self._phase(tr)
        out.append("  no_decision_share: 0.3       # base.yaml; only for phases that can fail")
        return _wrap_comments(out)

    def _phase(self, tr: Transition) -> list[str]:
        fit = tr.fit
        mean = fit.mean_days
        out = [f"    - name: {_key(tr.name)}"]
        if tr.advance is None:
            out.append("      advance_probability: 1.0   # its odds are the channels' intent above")
        else:
            out.append(
                f"      advance_probability: {_num(tr.advance.value)}   # FITTED: "
                f"{_ci_pct(tr.advance)}"
            )
        out += [
            f"      # FITTED: censored mixture-cure maximum likelihood on {fit.n:,} leads "
            f"({fit.events:,} converted; the others not by the as-of date, lost or open).",
            f"      # Log-normal time: median {_ci(fit.median_days, ' d')};",
            f"      # log-sd {_ci(fit.sigma_interval)}; mean {_ci(mean, ' d')}.",
        ]
        if tr.checks:
            worst = max(tr.checks, key=lambda c: abs(c.km - c.model))
            out.append(
                f"      # Check against Kaplan-Meier on the leads watched from creation (largest "
                f"gap {100 * abs(worst.km - worst.model):.1f} points), share converted by age:"
            )
            out += [
                f"      #   {c.days:>4g} d: Kaplan-Meier {_pct(c.km)} +- {_pct(Z95 * c.km_se)}, "
                f"model {_pct(c.model)}"
                for c in tr.checks
            ]
        out.append(
            f"      duration_days: {{dist: lognormal, mean: {_num(mean.value)}, "
            f"sd: {_num(fit.sd_days)}}}"
        )
        return out

    def _customer_success(self) -> list[str]:
        return [
            "# ASSUMED (base.yaml): the data records nothing after the win (no renewals, churn or",
            "# CSM ids). Referrals are off: a 'referral' channel in the data already counts them.",
            "customer_success:",
            "  headcount: 6",
            "  accounts_per_csm: 100",
            "  onboarding_days: {dist: lognormal, mean: 30, sd: 10}",
            "  term_months: 12",
            "  churn_probability: 0.10",
            "  uncovered_churn_multiplier: 2.0",
            "  expansion_probability: 0.35",
            "  expansion_fraction: {dist: lognormal, mean: 0.25, sd: 0.12}",
            "  contraction_probability: 0.05",
            "  contraction_fraction: {dist: uniform, low: 0.1, high: 0.3}",
            "  referrals:",
            "    leads_per_customer_per_year: 0",
        ]

    def _recycle(self) -> list[str]:
        return [
            "# OFF (max_cycles 0: a lead that falls out is retired). The data records no losses",
            "# or re-engagements, so the fitted odds and times already hold what recycling did.",
            "# Pauses are base.yaml's, for when you switch a rule on.",
            "recycle:",
            "  not_now: {pause_days: {dist: lognormal, mean: 90, sd: 30}, max_cycles: 0}",
            "  unreached: {pause_days: {dist: lognormal, mean: 60, sd: 20}, max_cycles: 0}",
            "  rejected: {pause_days: {dist: lognormal, mean: 180, sd: 60}, max_cycles: 0}",
            "  lost: {pause_days: {dist: lognormal, mean: 120, sd: 40}, max_cycles: 0}",
            "  churned: {pause_days: {dist: lognormal, mean: 180, sd: 60}, max_cycles: 0}",
        ]

    def _starting_book(self) -> list[str]:
        cal = self.cal
        pipe = cal.pipeline
        name = pipeline_channel(cal)
        months = min(6, len(pipe.by_month))
        split = (
            f"Opportunities started here close early (the engine starts each part-way through "
            f"a fresh duration), so only {pipe.opportunities:,} start here and the rest enter "
            f"as the {name} channel: a least-squares split whose expected wins by month are "
            f"{_counts(pipe.written_by_month[:months])}."
            if name is not None
            else ""
        )
        return _wrap_comments(
            [
                "starting_book:",
                "  customers: {}                # ASSUMED: the customer book is not in the data",
                "  arr: 0",
                f"  # FITTED: {pipe.open_leads:,} leads created before {cal.start} were not won "
                f"then; the fit expects {_ci(pipe.expected_wins)} of them to win later (CI from "
                f"the fit's uncertainty and the spread of a sum of chances), by month "
                f"{_counts(pipe.by_month[:months])}, each lead's remaining time given its age. "
                + split,
                f"  open_opportunities: {pipe.opportunities}",
                "  nurture_leads: 0",
            ]
        )


def _counts(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:,.1f}" for v in values)


PIPELINE = "open_pipeline"
"""Name of the channel that carries part of the open pipeline."""


def pipeline_channel(cal: Calibration) -> str | None:
    """The name of the channel carrying open-pipeline entries, or None if there are none."""
    if sum(cal.pipeline.entries) <= 0:
        return None
    names = {c.name for c in cal.channels}
    name, k = PIPELINE, 1
    while name in names:
        k += 1
        name = f"{PIPELINE}_{k}"
    return name


def _wrap_comments(lines: list[str]) -> list[str]:
    """Break long full-line comments at spaces, keeping the indent; other lines as they are."""
    out = []
    for line in lines:
        stripped = line.lstrip()
        if len(line) <= _WIDTH or not stripped.startswith("#"):
            out.append(line)
            continue
        indent = line[: len(line) - len(stripped)] + "# "
        words = stripped[1:].split()
        current = indent
        for word in words:
            if len(current) + len(word) + 1 > _WIDTH and current.strip() != "#":
                out.append(current.rstrip())
                current = indent + "  "
            current += word + " "
        out.append(current.rstrip())
    return out
