"""Paired comparison of test Dice between runs: python compare.py BASE_TAG OTHER_TAG [...]
A tag is a folder under preds/ with svl_evaluation.json, or a helper result json results/<tag>.json."""
import json, sys
from pathlib import Path
import numpy as np
from nnunet_svl.tools.stats import compare_to_baseline

def per_case(tag):
    p = Path("preds") / tag / "svl_evaluation.json"
    if p.is_file():
        d = json.loads(p.read_text())["per_case"]
        return {c: float(np.mean([m["dice"] for m in v.values()])) for c, v in d.items()}
    r = json.loads(Path(f"/work/regime_exp/results/{tag}.json").read_text())
    return {f"{c}.nii.gz" if not c.endswith(".nii.gz") else c: v for c, v in r["test_dice_per_case"].items()}

base = per_case(sys.argv[1])
print(f"{sys.argv[1]}: mean {np.mean(list(base.values())):.4f} (n={len(base)})")
for tag in sys.argv[2:]:
    other = per_case(tag)
    # align case names (helper results use case ids without the file ending)
    key = lambda c: c.replace(".nii.gz", "")
    b = {key(c): v for c, v in base.items()}; o = {key(c): v for c, v in other.items()}
    r = compare_to_baseline({0: o}, {0: b}, scale=100)
    print(f"{tag}: mean {np.mean(list(o.values())):.4f}  diff {r['mean_diff']:+.2f} pts  95% t {r['t_interval'][0]:+.2f}..{r['t_interval'][1]:+.2f} ({r['t_marker']})  n={r['n_pairs']}")
