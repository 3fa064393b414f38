"""Per noisy (or flagged) training case: the noise operation, Dice(given, clean), Dice(final label, clean) and whether
the teacher gate flagged it at the end of the run — for every run of TRAINER on the datasets matching PATTERN in a
benchmark workspace (labels the run ended with: its label store's last committed round).

    python benchmarks/flagged_sampling/repaired_labels.py WS TRAINER 'Dataset90[1-6]*'
"""
import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from nnunet_svl.runtime.label_store import LabelStore


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else 2.0 * (a & b).sum() / total


def read(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def main() -> None:
    ws, trainer, pattern = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    for fold in sorted(ws.glob(f"results_seed*/{pattern}/{trainer}__*/fold_all")):
        ds = fold.parents[1].name
        raw = ws / "raw" / ds
        manifest = json.loads((raw / "noise_manifest.json").read_text())["cases"]
        store = LabelStore(fold / "label_store")
        flagged = set(json.loads((fold / "label_store" / "manifest.json").read_text()).get("sampling_excluded", ()))
        print("==", ds, trainer, "flagged at the end:", len(flagged))
        for case, info in sorted(manifest.items()):
            if not info["noisy"] and case not in flagged:
                continue
            given = read(raw / "labelsTr" / f"{case}.nii.gz")
            clean = read(raw / "labelsTr_clean" / f"{case}.nii.gz")
            stored = store.load(case)
            final = given if stored is None else stored.label[0]
            op = info.get("operations", {}).get("1", {})
            print(f"{case} noisy={info['noisy']!s:5} {op.get('operation', '-'):7} side={op.get('side', '-')!s:3} "
                  f"clean_vox={int((clean > 0).sum()):5} given={dice(given, clean):.3f} final={dice(final, clean):.3f} "
                  f"flagged={case in flagged}")


if __name__ == "__main__":
    main()
