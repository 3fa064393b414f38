"""Instrument (not part of the package): does the image contrast across the given label's boundary tell noisy cases
from clean ones? Signed (lesion brighter) and inside the body (intensity > 50), as the phantoms allow.
usage: python contrast.py RAW_DATASET_DIR... (each with noise_manifest.json) -> AUROC per dataset"""
import json, sys
import numpy as np, SimpleITK as sitk
from scipy import ndimage
from sklearn.metrics import roc_auc_score

def shells(m, k):
    inner = m & ~ndimage.binary_erosion(m, iterations=k)
    outer = ndimage.binary_dilation(m, iterations=k) & ~m
    return inner, outer

for ds in sys.argv[1:]:
    man = json.load(open(f"{ds}/noise_manifest.json"))["cases"]
    ys, sc = [], {}
    for case, info in sorted(man.items()):
        img = sitk.GetArrayFromImage(sitk.ReadImage(f"{ds}/imagesTr/{case}_0000.nii.gz")).astype(np.float32)
        lab = sitk.GetArrayFromImage(sitk.ReadImage(f"{ds}/labelsTr/{case}.nii.gz")) > 0
        ys.append(int(info["noisy"]))
        body = img > 50
        sd = 1.4826 * np.median(np.abs(np.diff(img, axis=0)[body[1:]])) / np.sqrt(2)   # noise sd from differences
        r = {}
        for k in (1, 2):
            if lab.sum() < 10:
                r[f"c{k}"] = 1.0
                continue
            i, o = shells(lab, k)
            o = o & body
            c = (img[i].mean() - img[o].mean()) / sd if o.any() else 0
            r[f"c{k}"] = -c   # low contrast across the boundary -> suspicious
        for kk, v in r.items():
            sc.setdefault(kk, []).append(v)
    print(ds.split("/")[-1], {k: round(roc_auc_score(ys, v), 3) for k, v in sc.items()})
