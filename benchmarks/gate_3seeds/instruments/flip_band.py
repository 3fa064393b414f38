"""Instrument: precision of the final round's flips in flagged cases, and how it changes if flips within one voxel of
the corrected label's boundary (≈ the teacher's own boundary, where it is least reliable) were not made.
Reads a finished run's label store (preprocessed geometry), the preprocessed given labels and the raw clean labels
(the phantoms need no resampling: same spacing, transpose [0, 1, 2], no crop — checked by shape).
usage: python flip_band.py RUN_FOLD_DIR PREPROCESSED_DATASET_DIR RAW_DATASET_DIR"""
import json, sys
from pathlib import Path

import blosc2
import numpy as np
import SimpleITK as sitk
from scipy import ndimage

run, pre, raw = (Path(a) for a in sys.argv[1:4])
store = run / "label_store"
man = json.loads((store / "manifest.json").read_text())
tot = {"all": [0, 0], "interior": [0, 0]}
for case, rdir in sorted(man["cases"].items()):
    with np.load(store / rdir / f"{case}.npz") as z:
        label = z["label"][0]
    given = np.asarray(blosc2.open(str(pre / "nnUNetPlans_3d_fullres" / f"{case}_seg.b2nd"))[:])[0]
    clean = sitk.GetArrayFromImage(sitk.ReadImage(str(raw / "labelsTr_clean" / f"{case}.nii.gz")))
    if clean.shape != given.shape:
        raise SystemExit(f"{case}: shapes {clean.shape} vs {given.shape}: needs resampling, not supported here")
    flips = label != given
    if not flips.any():
        continue
    fg = label > 0
    boundary = ndimage.binary_dilation(fg) & ~ndimage.binary_erosion(fg)   # 1 voxel either side of the boundary
    correct = label == clean
    for key, m in (("all", flips), ("interior", flips & ~boundary)):
        tot[key][0] += int((m & correct).sum())
        tot[key][1] += int(m.sum())
for key, (ok, n) in tot.items():
    print(f"{key:9s} flips {n:6d} precision {ok / max(n, 1):.3f} correct flips kept {ok}")
