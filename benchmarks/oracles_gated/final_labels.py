"""The labels a run ended with, against the given and the clean labels (issue "corrections that help": flip
precision over a run, label repair on noisy cases, clean cases' labels vs themselves).

For every run folder of TRAINER under a benchmark workspace: the label store's last committed labels ("final"), the
given (noisy) labels and the clean ones (raw labelsTr / labelsTr_clean; the CPU presets' phantoms are not resampled,
so the store's geometry is the raw one — checked per case). Prints per run:
  * changed: voxels where final ≠ given, in noisy / clean cases; precision = share of them that equal the clean label;
  * repair: mean over noisy cases of foreground Dice(final, clean) − Dice(given, clean), in points;
  * clean cases: min Dice(final, given).

    python benchmarks/oracles_gated/final_labels.py WS [TRAINER ...]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from nnunet_svl.runtime.label_store import LabelStore


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    s = a.sum() + b.sum()
    return 1.0 if s == 0 else 2.0 * (a & b).sum() / s


def read(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def main() -> None:
    ws = Path(sys.argv[1])
    trainers = sys.argv[2:] or ["nnUNetTrainerSVLDRL_bench"]
    for trainer in trainers:
        for fold in sorted(ws.glob(f"results_seed*/Dataset*/{trainer}__*/fold_all")):
            ds = fold.parents[1].name
            raw = ws / "raw" / ds
            man_file = raw / "noise_manifest.json"
            if not man_file.is_file() or not (fold / "checkpoint_final.pth").is_file():
                continue
            manifest = json.loads(man_file.read_text())["cases"]
            store = LabelStore(fold / "label_store")
            changed = {True: 0, False: 0}
            right = {True: 0, False: 0}
            repair, clean_self = [], []
            for case, info in sorted(manifest.items()):
                given = read(raw / "labelsTr" / f"{case}.nii.gz")
                clean = read(raw / "labelsTr_clean" / f"{case}.nii.gz")
                stored = store.load(case)
                final = given if stored is None else stored.label[0]
                if final.shape != given.shape:
                    raise SystemExit(f"{fold}: {case} stored {final.shape} vs raw {given.shape}: resampled data")
                noisy = bool(info["noisy"])
                diff = final != given
                changed[noisy] += int(diff.sum())
                right[noisy] += int((diff & (final == clean)).sum())
                if noisy:
                    repair.append(dice(final, clean) - dice(given, clean))
                else:
                    clean_self.append(dice(final, given))
            prec = right[True] / changed[True] if changed[True] else float("nan")
            print(f"{trainer:40s} {fold.parents[2].name} {ds:34s} changed noisy {changed[True]:6d} "
                  f"(precision {prec:.3f}) clean {changed[False]:5d} | repair {100 * np.mean(repair):+5.1f} pts | "
                  f"clean cases min Dice {min(clean_self) if clean_self else float('nan'):.3f}")


if __name__ == "__main__":
    main()
