"""Offline: is the edge fit's step strength t of an on-edge label a size effect? [instrument, eighth session]

A candidate gate rule (not adopted) would flag trusted on-edge labels whose t exceeds 1.5 x the dataset's median:
on the logged runs it separated one-voxel dilations (t 2-3 x the median) from every clean label (<= 1.25 x). t is a
step over its standard error, so it could grow with the number of boundary voxels (a dilated label is larger). For
every default SVLDRL run's first edge fits (training logs) with a trusted fit within one voxel of the edge: the
correlation of t with sqrt(surface voxels) and volume among clean labels, and the ratio to the dataset's clean median
of t and of t / sqrt(surface voxels), clean against noisy.

    PYTHONPATH=. python benchmarks/case_flags/t_size.py WS [WS ...]
"""
import glob
import json
import os
import sys

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from edge_veto import parse  # noqa: E402

rows = []
for ws in sys.argv[1:]:
    for log in sorted(glob.glob(f"{ws}/results_seed*/Dataset9*/nnUNetTrainerSVLDRL_bench__*/fold_*/training_log_*.txt")):
        ds = log.split("/")[-4]
        raw = f"{ws}/raw/{ds}"
        man = json.load(open(f"{raw}/noise_manifest.json")) if os.path.exists(f"{raw}/noise_manifest.json") else {"cases": {}}
        _, fits = parse(log)
        for case, f in fits.items():
            if not f["trusted"] or abs(f["offset"]) > 1 or not np.isfinite(f["t"]):
                continue
            lab = sitk.GetArrayFromImage(sitk.ReadImage(f"{raw}/labelsTr/{case}.nii.gz")) > 0
            surf = int((lab & ~ndimage.binary_erosion(lab)).sum())
            noisy = man["cases"].get(case, {}).get("noisy", False)
            rows.append((ds, case, noisy, f["t"], int(lab.sum()), surf))
rows = np.array(rows, dtype=object)
t = rows[:, 3].astype(float); surf = rows[:, 5].astype(float); vol = rows[:, 4].astype(float); noisy = rows[:, 2].astype(bool)
c = ~noisy
print("on-edge trusted fits:", len(rows), "clean", c.sum(), "noisy", noisy.sum())
print("clean: corr(t, sqrt(surface)) = %.2f; corr(t, volume) = %.2f" % (np.corrcoef(t[c], np.sqrt(surf[c]))[0, 1], np.corrcoef(t[c], vol[c])[0, 1]))
print("clean surface range %d-%d voxels, t range %.1f-%.1f" % (surf[c].min(), surf[c].max(), t[c].min(), t[c].max()))
for name, x in (("t", t), ("t/sqrt(surface)", t / np.sqrt(surf))):
    out = []
    for ds in sorted(set(rows[:, 0])):
        m = rows[:, 0] == ds
        med = np.median(x[m & c]) if (m & c).sum() else np.median(x[m])
        out.append((x[m] / med, noisy[m]))
    r = np.concatenate([o[0] for o in out]); nz = np.concatenate([o[1] for o in out])
    print(f"{name} / dataset's clean median: clean {r[~nz].min():.2f}-{r[~nz].max():.2f}; noisy on-edge "
          f"{np.sort(r[nz]).round(2).tolist()}")
