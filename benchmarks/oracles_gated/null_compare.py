"""Paired difference of per-case test Dice, in points, between two sets of evaluations, as the benchmark reports a
method against nnUNetTrainer (nnunet_svl.tools.stats.compare_to_baseline: t-interval over seeds x test cases and a
bootstrap over seeds).

    python null_compare.py GROUP SEED:METHOD_EVAL:BASELINE_EVAL[+BASELINE_EVAL...] [SEED:...]
(each *_EVAL an svl_evaluation.json; the seed labels the pair). Several baseline evaluations joined by '+' are
averaged per test case: the baseline over several training trajectories, which the method's single run is then
compared with (a method that changes a batch leaves the baseline's trajectory, so the baseline's own trajectory
spread belongs in the comparison)."""
from __future__ import annotations

import json
import sys

import numpy as np

from nnunet_svl.tools.stats import compare_to_baseline


def per_case(path: str) -> dict:
    d = json.loads(open(path).read())["per_case"]
    return {c: float(np.nanmean([m["dice"] for m in v.values()])) for c, v in d.items()}


def main() -> None:
    group, pairs = sys.argv[1], sys.argv[2:]
    method, base, per_seed = {}, {}, []
    for p in pairs:
        seed, m, b = p.split(":")
        pm = per_case(m)
        bs = [per_case(x) for x in b.split("+")]
        pb = {c: float(np.mean([x[c] for x in bs])) for c in bs[0]}
        cases = sorted(pb)
        method[int(seed)] = [pm[c] for c in cases]
        base[int(seed)] = [pb[c] for c in cases]
        per_seed.append(100 * (np.mean(method[int(seed)]) - np.mean(base[int(seed)])))
    r = compare_to_baseline(method, base, scale=100.0)
    print(f"{group}: {r['mean_diff']:+.2f} t [{r['t_interval'][0]:+.2f}, {r['t_interval'][1]:+.2f}] "
          f"bootstrap [{r['bootstrap_interval'][0]:+.2f}, {r['bootstrap_interval'][1]:+.2f}] per seed "
          + " / ".join(f"{x:+.2f}" for x in per_seed))


if __name__ == "__main__":
    main()
