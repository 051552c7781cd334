"""The quarter-end slip: held share recovered, held deals at a cutoff counted right, and the
likelihood reducing to the plain hazard model at share 0."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from sim.calibrate.lifetable import LOST, WON, fit_life_table
from sim.calibrate.slip import (
    fit_slip,
    hazard_log_likelihood,
    held_probability,
    quarters,
    slip_log_likelihood,
    slip_months,
)
from sim.calibrate.synthetic_export import OpportunityTruth, synthetic_opportunities_with_truth

AS_OF = dt.date(2023, 12, 31)
EPOCH = pd.Timestamp("1970-01-01")


def _days(when: pd.Series) -> np.ndarray:
    return np.asarray((pd.to_datetime(when) - EPOCH) / pd.Timedelta(days=1), dtype=float)


def _last_stage_spells(
    truth: OpportunityTruth, seed: int, cutoff: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Last-stage spells as seen at ``cutoff`` (entry age 0, exit, outcome, born) and truth."""
    _, t = synthetic_opportunities_with_truth(truth, AS_OF, seed=seed)
    last = len(truth.stages) - 1
    entered = pd.to_datetime(t[f"stage_entered_{last}"])
    closed = pd.to_datetime(t["closed_at"])
    seen = entered.notna() & (entered < cutoff)
    t, entered, closed = t[seen], entered[seen], closed[seen]
    done = closed < cutoff
    outcome = np.where(~done, 0, np.where(t["outcome"] == "won", WON, LOST))
    end = closed.where(done, cutoff)
    spells = pd.DataFrame(
        {
            "exit": ((end - entered) / pd.Timedelta(days=1)).to_numpy(dtype=float),
            "outcome": outcome,
            "born": _days(entered),
        },
        index=t.index,
    )
    return spells, t


@pytest.mark.parametrize("share", [0.3, 0.6])
def test_the_held_share_is_recovered(share: float) -> None:
    """The EM estimate of the held share lands near the truth (its standard error here is
    about 0.03: a few hundred held wins), and on the right side of the other value."""
    truth = OpportunityTruth(quarter_end_push=share)
    spells, _ = _last_stage_spells(truth, 3, pd.Timestamp(AS_OF))
    fit = fit_slip(
        np.zeros(len(spells)),
        spells["exit"].to_numpy(),
        spells["outcome"].to_numpy(),
        spells["born"].to_numpy(),
        float(_days(pd.Series([pd.Timestamp(AS_OF)]))[0]),
    )
    assert abs(fit.share - share) < 0.1, fit.share


def test_held_deals_at_a_cutoff_are_counted_right() -> None:
    """At the start of a quarter's third month, the expected number of held deals among the
    open ones matches the true number (natural time before the cutoff, then held) within
    three standard deviations of a sum of Bernoulli draws."""
    truth = OpportunityTruth(start=dt.date(2022, 1, 1))
    natural = OpportunityTruth(start=dt.date(2022, 1, 1), quarter_end_push=0.0)
    for cut in ("2023-03-01", "2023-06-01", "2023-09-01"):
        cutoff = pd.Timestamp(cut)
        spells, t = _last_stage_spells(truth, 11, cutoff)
        _, t0 = synthetic_opportunities_with_truth(natural, AS_OF, seed=11)
        until = float(_days(pd.Series([cutoff]))[0])
        fit = fit_slip(
            np.zeros(len(spells)),
            spells["exit"].to_numpy(),
            spells["outcome"].to_numpy(),
            spells["born"].to_numpy(),
            until,
        )
        still = spells["outcome"].to_numpy() == 0
        p = held_probability(
            fit.table, fit.share, spells["born"].to_numpy()[still], np.zeros(still.sum()), until
        )
        # the same draws without the push give each deal's natural closing time
        nat = pd.to_datetime(t0.set_index("id").loc[t["id"], "closed_at"]).to_numpy()[still]
        held_true = int((t["pushed"].to_numpy()[still] & (nat < cutoff.to_datetime64())).sum())
        sd = float(np.sqrt(np.sum(p * (1 - p))))
        assert abs(p.sum() - held_true) <= 3 * sd + 1, (cut, p.sum(), held_true)


def test_the_slip_likelihood_at_share_zero_is_the_hazard_likelihood() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    exit_ = rng.exponential(40.0, n)
    outcome = rng.choice([0, WON, LOST], n, p=[0.2, 0.3, 0.5])
    born = 19000.0 + rng.uniform(0, 700, n)
    entry = np.minimum(rng.exponential(5.0, n), exit_)
    table = fit_life_table(entry, exit_, outcome)
    plain = hazard_log_likelihood(table, entry, exit_, outcome)
    slipped = slip_log_likelihood(table, 0.0, entry, exit_, outcome, born, 19700.0)
    assert slipped == pytest.approx(plain, rel=1e-9)


def test_slip_months_moves_the_share_to_the_quarter_end_and_keeps_totals() -> None:
    probs = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    positions = np.array([1, 2, 0, 1, 2])
    out = slip_months(probs, positions, 0.5)
    # month 0 (2nd of its quarter) moves half to month 1; months 2 and 3 (1st and 2nd of the
    # next quarter) move half to month 4; nothing is lost inside the horizon
    assert out.tolist() == [[0.5, 2.5, 1.5, 2.0, 8.5]]
    assert out.sum() == probs.sum()
    q = quarters(np.array([_days(pd.Series([pd.Timestamp("2023-05-20")]))[0]]))
    assert pd.Timestamp("1970-01-01") + pd.Timedelta(days=float(q.third[0])) == pd.Timestamp(
        "2023-06-01"
    )
