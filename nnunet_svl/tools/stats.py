"""Paired statistics for the benchmark: is a method's Dice different from ``nnUNetTrainer``'s on the same labels?

For a method M and the baseline B trained in the same setting group (same noise protocol and ratio, or clean labels)
with the same seeds, and evaluated on the same test cases, the paired differences are

    d[s, c] = Dice_M(s, c) − Dice_B(s, c)        (same seed s, same test case c)

Pairs where either value is missing or NaN are dropped (pairwise). Two 95 % intervals for the mean difference:

* ``t_interval``: Student's t over the n = S × C pooled paired differences (mean ± t_{0.975, n−1} · sd / √n). It
  treats the n differences as independent, which they are not quite (cases share a seed's model), so
* ``cluster_bootstrap``: a two-level percentile bootstrap as a robustness check — resample seeds with replacement,
  then cases with replacement within each drawn seed, and take the pooled mean; a fixed RNG seed makes the interval
  reproducible.

Degenerate inputs are stated, not hidden: with fewer than two paired differences both intervals are NaN (there is no
spread to estimate); when all differences are equal (sd 0) the t-interval is the single point [mean, mean].
Plain numpy, plus ``scipy.stats.t`` for the t quantile. Units are those of the inputs (the report multiplies by 100
to give Dice points).
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Union

import numpy as np

BASELINE = "nnUNetTrainer"
LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_RNG_SEED = 20240601

Values = Union[Mapping[str, float], Sequence[float]]


def _finite(x) -> bool:
    try:
        return x is not None and bool(np.isfinite(float(x)))
    except (TypeError, ValueError):
        return False


def paired_differences(method: Mapping[int, Values], baseline: Mapping[int, Values]) -> dict[int, np.ndarray]:
    """Per seed (only seeds both have), the differences method − baseline on the cases both have.

    Each value is either {case id: value} (paired by case id) or a sequence (paired by position, which must then
    be the same case order). A pair is dropped when either side is missing, None or NaN; a seed whose pairs are all
    dropped is left out.
    """
    out: dict[int, np.ndarray] = {}
    for seed in sorted(set(method) & set(baseline)):
        a, b = method[seed], baseline[seed]
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            pairs = [(a[c], b[c]) for c in a if c in b]
        elif not isinstance(a, Mapping) and not isinstance(b, Mapping):
            if len(a) != len(b):
                raise ValueError(f"seed {seed}: {len(a)} method values but {len(b)} baseline values")
            pairs = list(zip(a, b))
        else:
            raise TypeError("pair both sides by case id (mappings) or both by position (sequences)")
        d = np.array([float(x) - float(y) for x, y in pairs if _finite(x) and _finite(y)], dtype=float)
        if d.size:
            out[seed] = d
    return out


def _pooled(diffs: Union[Mapping[int, np.ndarray], Sequence[float], np.ndarray]) -> np.ndarray:
    if isinstance(diffs, Mapping):
        parts = [np.asarray(v, dtype=float).ravel() for v in diffs.values()]
        return np.concatenate(parts) if parts else np.zeros(0)
    return np.asarray(diffs, dtype=float).ravel()


def t_interval(diffs, level: float = LEVEL) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of the pooled differences; low/high NaN when n < 2, equal to the mean when sd is 0."""
    from scipy import stats

    d = _pooled(diffs)
    d = d[np.isfinite(d)]
    n = int(d.size)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    mean = float(d.mean())
    if n < 2:
        return mean, float("nan"), float("nan"), n
    half = float(stats.t.ppf(0.5 + level / 2.0, df=n - 1)) * float(d.std(ddof=1)) / np.sqrt(n)
    return mean, mean - half, mean + half, n


def cluster_bootstrap(diffs_by_seed: Mapping[int, np.ndarray], level: float = LEVEL,
                      n_resamples: int = BOOTSTRAP_RESAMPLES, rng_seed: int = BOOTSTRAP_RNG_SEED
                      ) -> tuple[float, float]:
    """Two-level percentile bootstrap of the pooled mean difference: (low, high).

    Each resample draws S seeds with replacement, then, for each drawn seed, its C_s cases with replacement, and
    takes the mean of all drawn differences. NaN when there are fewer than two differences in all. With one seed
    only the case level varies; with one case per seed only the seed level does.
    """
    parts = [np.asarray(v, dtype=float)[np.isfinite(np.asarray(v, dtype=float))] for v in diffs_by_seed.values()]
    parts = [p for p in parts if p.size]
    if sum(p.size for p in parts) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(rng_seed)
    n_seeds = len(parts)
    stats = np.empty(n_resamples)
    for b in range(n_resamples):
        total, count = 0.0, 0
        for s in rng.integers(n_seeds, size=n_seeds):
            p = parts[s]
            total += float(p[rng.integers(p.size, size=p.size)].sum())
            count += p.size
        stats[b] = total / count
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(low), float(high)


def interval_marker(low: float, high: float) -> str:
    """'above 0', 'below 0', 'includes 0', or 'n/a' when the interval is undefined (NaN)."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "n/a"
    if low > 0:
        return "above 0"
    if high < 0:
        return "below 0"
    return "includes 0"


def pooled_mean_sd(values_by_seed: Mapping[int, Values]) -> tuple[float, float, int]:
    """Mean ± sd (ddof 1; 0 for one value) over all finite values of all seeds and cases, and their number."""
    vals = []
    for v in values_by_seed.values():
        vals += [float(x) for x in (v.values() if isinstance(v, Mapping) else v) if _finite(x)]
    if not vals:
        return float("nan"), float("nan"), 0
    a = np.array(vals)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0, int(a.size)


def compare_to_baseline(method: Mapping[int, Values], baseline: Mapping[int, Values], scale: float = 1.0,
                        level: float = LEVEL, n_resamples: int = BOOTSTRAP_RESAMPLES,
                        rng_seed: int = BOOTSTRAP_RNG_SEED) -> dict:
    """Everything the report states about one method against the baseline, differences multiplied by ``scale``
    (100 for Dice points)."""
    diffs = {s: d * scale for s, d in paired_differences(method, baseline).items()}
    mean, t_lo, t_hi, n = t_interval(diffs, level)
    b_lo, b_hi = cluster_bootstrap(diffs, level, n_resamples, rng_seed)
    return {"mean_diff": mean, "n_pairs": n, "n_seeds": len(diffs), "seeds": sorted(diffs),
            "t_interval": [t_lo, t_hi], "bootstrap_interval": [b_lo, b_hi],
            "t_marker": interval_marker(t_lo, t_hi), "bootstrap_marker": interval_marker(b_lo, b_hi),
            "level": level, "bootstrap_resamples": n_resamples, "bootstrap_rng_seed": rng_seed}


def nan_to_none(x: Optional[float]):
    """JSON has no NaN: write null instead."""
    return None if x is None or not np.isfinite(x) else float(x)
