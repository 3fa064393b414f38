"""Instrument (not part of the package): flags from |boundary contrast| with the teacher gate's robust rule
(score = 1 - |c| / median |c| of the upper half), precision / recall per dataset; body mask = intensity > 50.
usage: python flags_sim.py RAW_DATASET_DIR..."""
import json, sys, os
import numpy as np, SimpleITK as sitk
from scipy import ndimage
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
from nnunet_svl.teacher.case_flags import flag_cases

def contrast(img, lab):
    if lab.sum() < 10:
        return 0.0
    inner = lab & ~ndimage.binary_erosion(lab)
    body = img > 50                                   # phantom-specific: tissue, not air
    outer = ndimage.binary_dilation(lab) & ~lab & body
    if not outer.any():
        return 0.0
    sd = 1.4826 * np.median(np.abs(np.diff(img, axis=0)[body[1:]])) / np.sqrt(2)
    return abs(img[inner].mean() - img[outer].mean()) / max(sd, 1e-6)

for ds in sys.argv[1:]:
    mp = f"{ds}/noise_manifest.json"
    man = json.load(open(mp))["cases"] if os.path.exists(mp) else None
    cases = sorted(f[:-7] for f in os.listdir(f"{ds}/labelsTr"))
    cs = {}
    for case in cases:
        img = sitk.GetArrayFromImage(sitk.ReadImage(f"{ds}/imagesTr/{case}_0000.nii.gz")).astype(np.float32)
        lab = sitk.GetArrayFromImage(sitk.ReadImage(f"{ds}/labelsTr/{case}.nii.gz")) > 0
        cs[case] = contrast(img, lab)
    vals = np.array(list(cs.values()))
    ref = np.median(np.sort(vals)[len(vals) // 2:])       # upper half: the clean-looking cases
    s = {c: 1 - min(v / ref, 1.0) for c, v in cs.items()}
    for margin in (0.15, 0.25):
        fl = flag_cases(s, k=3.0, margin=margin)
        noisy = {c for c, i in man.items() if i["noisy"]} if man else set()
        tp = len(fl & noisy)
        print(ds.split("/")[-1][:34], f"m={margin}", "flags", len(fl), "noisy", len(noisy), "prec",
              round(tp / len(fl), 2) if fl else None, "rec", round(tp / len(noisy), 2) if noisy else None,
              "ref", round(ref, 2), "scores clean", sorted(round(s[c], 2) for c in cases if c not in noisy)[-3:])
