"""Instrument (not part of the package): flags from the SIGNED contrast across the given label's boundary, without a
body mask (what a dataset-generic rule could use): c = mean(inner 1-voxel shell) - mean(outer shell), noise sd from
voxel differences; the dataset's sign s = sign(median c) (the labelled structure is consistently brighter or darker);
score = 1 - s*c / median of the upper half of s*c; flags with the teacher gate's rule (k = 3, margin 0.25).
usage: python signed_flags_sim.py RAW_DATASET_DIR..."""
import json, os, sys
import numpy as np, SimpleITK as sitk
from scipy import ndimage
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
from nnunet_svl.diagnostics.quality import auroc
from nnunet_svl.teacher.case_flags import flag_cases

def contrast(img, lab):
    if lab.sum() < 10:
        return 0.0
    inner = lab & ~ndimage.binary_erosion(lab)
    outer = ndimage.binary_dilation(lab) & ~lab
    sd = 1.4826 * np.median(np.abs(np.diff(img, axis=0))) / np.sqrt(2)
    return (img[inner].mean() - img[outer].mean()) / max(sd, 1e-6)

for ds in sys.argv[1:]:
    mp = f"{ds}/noise_manifest.json"
    man = json.load(open(mp))["cases"] if os.path.exists(mp) else {}
    cases = sorted(f[:-7] for f in os.listdir(f"{ds}/labelsTr"))
    c = {k: contrast(sitk.GetArrayFromImage(sitk.ReadImage(f"{ds}/imagesTr/{k}_0000.nii.gz")).astype(np.float32),
                     sitk.GetArrayFromImage(sitk.ReadImage(f"{ds}/labelsTr/{k}.nii.gz")) > 0) for k in cases}
    v = np.array(list(c.values()))
    s = np.sign(np.median(v)) or 1.0
    ref = np.median(np.sort(s * v)[len(v) // 2:])
    score = {k: 1 - s * c[k] / ref for k in cases}
    fl = flag_cases(score, k=3.0, margin=0.25)
    noisy = {k for k, i in man.items() if i["noisy"]}
    tp = len(fl & noisy)
    a = auroc([score[k] for k in cases], [k in noisy for k in cases]) if noisy and len(noisy) < len(cases) else None
    print(f"{ds.split('/')[-1][:34]:34s} flags {len(fl):2d} noisy {len(noisy):2d} precision "
          f"{tp / len(fl) if fl else float('nan'):.2f} recall {tp / len(noisy) if noisy else float('nan'):.2f} "
          f"AUROC {a if a is None else round(a, 3)}")
