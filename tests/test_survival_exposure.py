"""Hazard ratio of an exposure during the lifetime (time-varying covariate)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.schema import MissingColumnError
from analysis.survival import cox_hazards
from analysis.survival.exposure import _episodes, exposure_hazard


def _simulate(ratio: float, n: int = 3000, seed: int = 4) -> tuple[pd.DataFrame, pd.Series]:
    """Exponential lifetimes whose hazard is multiplied by ``ratio`` from the exposure on."""
    rng = np.random.default_rng(seed)
    base = rng.exponential(100, n)
    at = np.where(rng.random(n) < 0.4, rng.uniform(-20, 150, n), np.nan)
    life = base.copy()
    hit = ~np.isnan(at) & (at < base)
    begin = np.maximum(at[hit], 0)
    life[hit] = begin + (base[hit] - begin) / ratio
    censor = rng.uniform(50, 300, n)
    ids = [f"c{i}" for i in range(n)]
    lifetimes = pd.DataFrame({"customer_id": ids, "duration_days": np.minimum(life, censor),
                              "churned": life <= censor})
    return lifetimes, pd.Series(at, index=ids).dropna()


def test_matches_lifelines_time_varying_cox():
    from lifelines import CoxTimeVaryingFitter

    lifetimes, exposed_at = _simulate(2.0)
    ours = exposure_hazard(lifetimes, exposed_at)
    ref = CoxTimeVaryingFitter().fit(_episodes(lifetimes, exposed_at), id_col="id",
                                     event_col="event", start_col="start", stop_col="stop")
    se = float(ref.standard_errors_["exposed"])
    assert ours.hazard_ratio == pytest.approx(float(np.exp(ref.params_["exposed"])), rel=1e-9)
    assert np.log(ours.ci_high / ours.hazard_ratio) == pytest.approx(1.959963984540054 * se,
                                                                     rel=1e-6)
    assert ours.p_value == pytest.approx(float(ref.summary.loc["exposed", "p"]), rel=1e-4)
    assert ours.ci_low < 2.0 < ours.ci_high  # the simulated ratio


def test_a_later_harmless_exposure_is_not_protective():
    """Flagging the whole lifetime credits the time before the exposure to it."""
    lifetimes, exposed_at = _simulate(1.0, seed=9)
    flagged = lifetimes.assign(x=lifetimes["customer_id"].isin(
        exposed_at[exposed_at < lifetimes.set_index("customer_id")["duration_days"]
                   .reindex(exposed_at.index)].index).astype(int))
    naive = cox_hazards(flagged, covariates=["x"]).table.iloc[0]
    fair = exposure_hazard(lifetimes, exposed_at)
    assert naive["ci_high"] < 1  # immortal-time bias: looks protective
    assert fair.ci_low < 1 < fair.ci_high


def test_degenerate_and_bad_input():
    lifetimes, _ = _simulate(2.0, n=200)
    none = exposure_hazard(lifetimes, pd.Series(dtype=float))
    assert np.isnan(none.hazard_ratio) and none.exposed == 0 and none.message
    with pytest.raises(MissingColumnError):
        exposure_hazard(lifetimes.drop(columns="churned"), pd.Series(dtype=float))


def test_many_exposures_at_once_match_lifelines_each():
    """The batched fit shares the risk sets; each exposure still equals its own
    time-varying Cox fit in lifelines."""
    from lifelines import CoxTimeVaryingFitter

    from analysis.survival.exposure import exposure_hazards

    lifetimes, first = _simulate(2.0, n=2000, seed=5)
    _, second = _simulate(1.0, n=2000, seed=6)
    tiny = first.iloc[:3]  # too few exposed: a message, no ratio
    parts = [pd.DataFrame({"exposure": label, "customer_id": s.index, "days": s.to_numpy()})
             for label, s in (("a", first), ("b", second), ("c", tiny))]
    many = exposure_hazards(lifetimes, pd.concat(parts, ignore_index=True))
    for label, s in (("a", first), ("b", second)):
        ref = CoxTimeVaryingFitter().fit(_episodes(lifetimes, s), id_col="id",
                                         event_col="event", start_col="start", stop_col="stop")
        assert many[label].hazard_ratio == pytest.approx(
            float(np.exp(ref.params_["exposed"])), rel=1e-9)
        assert many[label].p_value == pytest.approx(float(ref.summary.loc["exposed", "p"]),
                                                    rel=1e-4)
    assert np.isnan(many["c"].hazard_ratio) and many["c"].message and many["c"].exposed == 3
    assert many["a"].ci_low < 2.0 < many["a"].ci_high


@pytest.mark.parametrize("dense", [True, False])
def test_customers_found_by_number_as_by_hashing(dense):
    """Whole-number ids are found through a lookup table when they are dense (the
    scorecard's customer ranks, with negative ones for customers without a touch) and by
    hashing otherwise: the same rows either way, -1 for ids not among the lifetimes."""
    from analysis.survival.exposure import _positions

    rng = np.random.default_rng(3)
    ids = rng.permutation(np.arange(-50, 1000)) * (1 if dense else 1_000_003)
    wanted = rng.choice(np.concatenate([ids, ids.max() + 1 + np.arange(40)]), 5000)
    got = _positions(pd.Series(ids), pd.Series(wanted))
    assert (got == pd.Index(ids).get_indexer(wanted)).all()
    assert (got == -1).any() and (got >= 0).any()


@pytest.mark.parametrize("dtype", ["uint64", "int8", "int16", "int64-wide"])
def test_customers_found_by_number_for_any_integer_ids(dtype):
    """Unsigned, narrow and widely spread ids (hashes of both signs) are found as by hashing,
    without overflow."""
    from analysis.survival.exposure import _positions

    if dtype == "int64-wide":
        ids = np.array([-(2**62), 2**62, 5, -7], dtype="int64")
    else:
        info = np.iinfo(dtype)
        ids = np.array([info.min, info.max, 1, 3], dtype=dtype)
    wanted = np.concatenate([ids[::-1], ids[:1]])
    got = _positions(pd.Series(ids), pd.Series(wanted))
    assert (got == pd.Index(ids).get_indexer(wanted)).all()
