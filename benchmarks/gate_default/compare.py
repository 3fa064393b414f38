"""Paired comparison of test Dice against a baseline run: python compare.py BASE TAG [TAG ...]
A tag names evals/<tag>.json (the svl_evaluation.json `nnunet-svl evaluate` wrote for that run's predictions)."""
import json
import sys
from pathlib import Path

import numpy as np

from nnunet_svl.tools.stats import compare_to_baseline

HERE = Path(__file__).parent


def per_case(tag):
    d = json.loads((HERE / "evals" / f"{tag}.json").read_text())["per_case"]
    return {c: float(np.mean([m["dice"] for m in v.values()])) for c, v in d.items()}


base = per_case(sys.argv[1])
print(f"{sys.argv[1]}: mean {np.mean(list(base.values())):.4f} (n={len(base)})")
for tag in sys.argv[2:]:
    other = per_case(tag)
    r = compare_to_baseline({0: other}, {0: base}, scale=100)
    print(f"{tag}: mean {np.mean(list(other.values())):.4f}  diff {r['mean_diff']:+.2f} pts  "
          f"95% t {r['t_interval'][0]:+.2f}..{r['t_interval'][1]:+.2f} ({r['t_marker']})  n={r['n_pairs']}")
