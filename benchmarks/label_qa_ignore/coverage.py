"""What label-qa's ignore dataset hides (fourteenth session): per flagged case, the voxels whose given label is wrong
(against the clean label) and how many of them carry the ignore label, and how many correct voxels it hides too.

    python benchmarks/label_qa_ignore/coverage.py WS/raw/DatasetNNN_..._qaignore [...]
"""
import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk


def read(p: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(p)))


for folder in map(Path, sys.argv[1:]):
    dj = json.loads((folder / "dataset.json").read_text())
    src = folder.parent / dj["svl_label_qa"]["source"]
    manifest = json.loads((src / "noise_manifest.json").read_text())["cases"]
    ign_value = dj["labels"]["ignore"]
    tot = np.zeros(3, int)
    print(f"{folder.name}: {len(dj['svl_label_qa']['flagged'])} flagged")
    for c in dj["svl_label_qa"]["flagged"]:
        given, clean = read(src / "labelsTr" / f"{c}.nii.gz"), read(src / "labelsTr_clean" / f"{c}.nii.gz")
        ignored = read(folder / "labelsTr" / f"{c}.nii.gz") == ign_value
        wrong = given != clean
        op = manifest[c]["operations"]["1"] if manifest[c]["noisy"] else {"operation": "clean"}
        row = np.array([wrong.sum(), (wrong & ignored).sum(), (~wrong & ignored).sum()])
        tot += row
        print(f"  {c} {op['operation']:>7} {op.get('side', '')!s:>3}: wrong {row[0]:6d}, of them ignored {row[1]:6d} "
              f"({row[1] / max(row[0], 1):.0%}); correct voxels ignored {row[2]:6d}")
    print(f"  all flagged: wrong {tot[0]}, ignored {tot[1]} ({tot[1] / max(tot[0], 1):.0%}), correct ignored {tot[2]}")
