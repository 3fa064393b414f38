"""Paired Dice difference of two trainers' test predictions (same test cases), in Dice points, with a 95 % t-interval
over the cases; several (A, B) folder pairs are pooled (cases × runs), as the benchmark's summary does.

usage: python paired.py LABELS_TS A_FOLDER B_FOLDER [LABELS_TS A_FOLDER B_FOLDER ...]    (B − A)
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import stats

from nnunet_svl.tools.metrics import dice


def case_dice(pred: Path, labels: Path) -> dict:
    out = {}
    for p in sorted(pred.glob("*.nii.gz")):
        ref = sitk.GetArrayFromImage(sitk.ReadImage(str(labels / p.name))) == 1
        out[p.name] = dice(sitk.GetArrayFromImage(sitk.ReadImage(str(p))) == 1, ref)
    return out


def main() -> None:
    args = [Path(a) for a in sys.argv[1:]]
    if not args or len(args) % 3:
        raise SystemExit(__doc__)
    diffs, lines = [], []
    for labels, a, b in zip(args[0::3], args[1::3], args[2::3]):
        da, db = case_dice(a, labels), case_dice(b, labels)
        d = np.array([100 * (db[k] - da[k]) for k in sorted(da) if k in db])
        diffs.append(d)
        lines.append(f"  {b.parent.name}/{b.name} − {a.name}: {d.mean():+.2f} over {d.size} cases "
                     f"(A {np.mean(list(da.values())):.4f}, B {np.mean(list(db.values())):.4f})")
    d = np.concatenate(diffs)
    h = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    print("\n".join(lines))
    print(f"pooled B − A: {d.mean():+.2f} [{d.mean() - h:+.2f}, {d.mean() + h:+.2f}] (95 % t over {d.size} cases, "
          f"{len(diffs)} run pairs)")


if __name__ == "__main__":
    main()
