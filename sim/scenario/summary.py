"""A one-screen, human summary of a validated scenario (``revloop validate``)."""

from __future__ import annotations

from sim.scenario.schema import DAYS_PER_MONTH, GENERALISTS, Scenario, Staffing


def _money(x: float) -> str:
    return f"${x / 1e6:,.2f}M" if abs(x) >= 1e6 else f"${x:,.0f}"


def _changes(team: Staffing) -> str:
    """``hires 2 in month 7, 1 in month 13`` or ``targets 4 from month 7``."""
    if team.targets:
        return "targets " + ", ".join(f"{t.headcount} from month {t.month}" for t in team.targets)
    return "plan " + ", ".join(
        f"{'+' if c.hire >= c.leave else '-'}{abs(c.hire - c.leave)} in month {c.month}"
        for c in team.plan
    )


def summarize(sc: Scenario) -> list[str]:
    """Lines describing the scenario and the capacity it implies."""
    mk, is_, fs, cs = sc.marketing, sc.inside_sales, sc.field_sales, sc.customer_success
    lines = [
        f"{sc.name}: {sc.description}".rstrip(": "),
        f"horizon      {sc.horizon_months} months, {sc.start_date} to {sc.end_date}",
        "segments     "
        + ", ".join(
            f"{k} {s.share:.0%} (ACV {_money(s.acv.mean)})" for k, s in sc.segments.items()
        ),
        f"intent       now {sc.intent.now:.0%}, later {sc.intent.later:.0%} "
        f"(active after ~{sc.later_active_after_days.mean:.0f} d), never {sc.intent.never:.0%}",
    ]
    first = sc.start_date.month - 1
    total = sum(ch.volume(0, first) for ch in mk.channels.values())
    lines.append(f"marketing    {total:,.0f} leads in month 1 from {len(mk.channels)} channels:")
    for name, ch in mk.channels.items():
        growth = (
            "by month" if isinstance(ch.monthly_leads, list) else f"{ch.growth_per_month:+.1%}/mo"
        )
        if ch.spend is not None:
            sp = ch.spend
            shape = (
                f"power {sp.elasticity:g}" if sp.curve == "power" else f"up to {sp.max_leads:,.0f}"
            )
            price = f"{_money(sp.spend_in(0))}/mo spend ({shape})"
        else:
            price = f"{_money(ch.cost_per_lead)}/lead"
        lines.append(
            f"  {name:<18} {ch.volume(0, first):>7,.0f}/mo  growth {growth}  "
            f"{price}  follow-up {ch.follow_up_delay_days.mean:g} d"
        )
    fast = mk.scoring.fast_pass_threshold
    lines.append(
        f"scoring      MQL at {mk.scoring.mql_threshold:g} points"
        + (f", fast pass at {fast:g}" if fast is not None else "")
        + f"; {len(mk.scoring.fit)} fit and {len(mk.scoring.behaviour)} behaviour signals"
    )
    raisers = [name for name, ch in mk.channels.items() if ch.hand_raiser]
    if raisers:
        lines.append(f"hand-raisers {', '.join(raisers)}: to inside sales whatever the score")
    if mk.scoring.engagement is not None:
        rates = mk.scoring.engagement.events_per_month
        lines.append(
            "engagement   "
            + ", ".join(f"{k} {v:g}/mo" for k, v in rates.items())
            + f"; behaviour points halve in {mk.scoring.engagement.half_life_days:g} d"
        )
    if sc.buying_window is not None:
        bw = sc.buying_window
        lines.append(
            f"windows      open ~{bw.open_days.mean:.0f} d; closing unbought: "
            f"{bw.bought_elsewhere_share:.0%} buy elsewhere"
            + (
                f", the rest come back after ~{bw.next_window_after_days.mean:.0f} d"
                if bw.next_window_after_days is not None
                else ""
            )
        )
    hours_week = 24 * 7 if is_.calendar == "always" else is_.hours_per_day * 5
    per_touch = is_.minutes_per_touch.mean
    attempts = (
        f"{is_.headcount * hours_week * 60 / per_touch:,.0f} attempts/week at most"
        if per_touch > 0
        else "attempts not limited by dialling time"
    )
    talk = is_.minutes_per_conversation
    lines.append(
        f"inside sales {is_.headcount} reps, {attempts} "
        f"({per_touch:g} min each"
        + (f", {talk.mean:g} min a conversation" if talk is not None else "")
        + f", {is_.calendar}), {is_.max_attempts} attempts, {is_.queue_policy} queue"
    )
    motion = fs.for_segment(None)
    lines.append(
        f"field sales  {fs.headcount} AEs x {fs.max_open_opportunities_per_ae} open opportunities; "
        f"{len(motion.phases)} phases, win rate {motion.win_probability:.0%}, "
        f"~{motion.cycle_days:.0f} d to close"
    )
    worked_by = fs.team_of(sc.segments)
    for name in fs.teams:
        ae_team = fs.team(name)
        mine = [s for s, by in zip(sc.segments, worked_by, strict=True) if by == name]
        quota = ae_team.quota_per_ae_per_year
        lines.append(
            f"  team {name}: {ae_team.headcount} AEs x {ae_team.max_open_opportunities_per_ae} "
            f"open opportunities for {', '.join(mine)}"
            + (f", {_changes(ae_team)}" if ae_team.plan or ae_team.targets else "")
            + (f"; quota ${quota:,.0f}" if quota is not None else "")
        )
    rest = [
        s
        for s, by in zip(sc.segments, worked_by, strict=True)
        if by == GENERALISTS and not is_.for_segment(s).closes
    ]
    if fs.teams:
        lines.append(
            f"  the {fs.headcount} AEs above work {', '.join(rest)}"
            if rest
            else "  no AEs of field sales itself: every segment has a team or inside sales"
        )
    if rest and (fs.quota_per_ae_per_year is not None or fs.commission_rate > 0):
        quota = fs.quota_per_ae_per_year
        lines.append(
            "  quota:     "
            + (f"${quota:,.0f} new ARR a year per ramped AE" if quota is not None else "none")
            + (f"; commission {fs.commission_rate:.0%} of new ARR" if fs.commission_rate else "")
        )
    spreads = [
        f"{team} {getattr(sc, team).productivity_spread:g}"
        for team in ("inside_sales", "field_sales", "customer_success", "outbound")
        if getattr(sc, team) is not None and getattr(sc, team).productivity_spread > 0
    ]
    if spreads:
        lines.append("  people differ (productivity CV): " + ", ".join(spreads))
    for name in fs.segments:
        own = fs.for_segment(name)
        lines.append(
            f"  {name + ':':<12}{len(own.phases)} phases, win rate {own.win_probability:.0%}, "
            f"~{own.cycle_days:.0f} d to close (its own motion)"
        )
    for name, contacts in is_.segments.items():
        if contacts.closes:
            lines.append(
                f"  {name + ':':<12}closed by inside sales itself (no AE), "
                f"{contacts.hours_per_deal:g} SDR hours a deal"
            )
    lines.append(
        f"cust success {cs.headcount} CSMs x {cs.accounts_per_csm} accounts = "
        f"{cs.headcount * cs.accounts_per_csm:,} covered; {cs.term_months}-month terms "
        f"({cs.term_months * DAYS_PER_MONTH:.0f} d)"
    )
    if cs.full_attention_accounts is not None:
        lines.append(
            f"  health:    full attention up to {cs.full_attention_accounts} accounts a CSM; "
            f"churn x{cs.uncovered_churn_multiplier:g} and expansion "
            f"x{cs.uncovered_expansion_multiplier:g} at no attention"
        )
    tt = cs.tech_touch
    if tt is not None:
        lines.append(
            f"  tech touch: {', '.join(tt.segments)} pooled; {tt.headcount} x "
            f"{tt.accounts_per_head} accounts at attention {tt.attention:.0%}"
        )
    pipe = cs.expansion_pipeline
    if pipe is not None:
        win = pipe.win_probability
        odds = (
            f"{win:.0%}"
            if not isinstance(win, dict)
            else ", ".join(f"{k} {v:.0%}" for k, v in win.items())
        )
        lines.append(
            f"  upsell:    {pipe.opportunities_per_account_per_year:g} chances a customer-year, "
            f"won {odds}, ~{pipe.cycle_days.mean:.0f} d, +{pipe.fraction.mean:.0%} ARR; "
            f"unfollowed come back after ~{pipe.unfollowed.pause_days.mean:.0f} d "
            f"(at most {pipe.unfollowed.max_cycles}x)"
        )
    rules = sc.recycle
    lines.append(
        "recycle      "
        + ", ".join(
            f"{r} {getattr(rules, r).pause_days.mean:.0f} d"
            f"{' (alert)' if getattr(rules, r).alert_on_reengage else ''}"
            for r in ("not_now", "unreached", "rejected", "lost", "churned")
        )
    )
    for team in ("inside_sales", "field_sales", "customer_success", "outbound"):
        staffing = getattr(sc, team)
        late = (
            []
            if staffing is None
            else [c.month for c in (*staffing.plan, *staffing.targets)
                  if c.month > sc.horizon_months]
        )  # fmt: skip
        if late:
            lines.append(
                f"note         {team}: planned months {', '.join(map(str, late))} fall after "
                f"the horizon and are not simulated"
            )
    book = sc.starting_book
    lines.append(
        f"start book   {sum(book.customers.values()):,} customers, {_money(book.arr)} ARR, "
        f"{book.open_opportunities} open opportunities"
    )
    return lines
