"""label-qa case scores on held-out 5-fold probabilities: the argmax disagreement (label-qa's score) against the teacher
gate's confident-disagreement score (disagreeing voxels counted only where the prediction is at least `conf`), raw and
with label-qa's fitted temperature (2.14); case AUROC for the noisy cases and the gate's flag rule (k 3, margin 0.25).

    python qa_confident_score.py RESULTS_RUN_FOLDER RAW_DATASET_FOLDER
(RESULTS_RUN_FOLDER: the 5 folds trained with --npz, e.g. .../Dataset901_*/nnUNetTrainerBaseline_bench__nnUNetPlans_narrow__3d_fullres)
"""
import glob, os, sys, numpy as np, SimpleITK as sitk
from sklearn.metrics import roc_auc_score
from nnunet_svl.teacher.case_flags import disagreement_score, flag_cases
res, raw = sys.argv[1], sys.argv[2]
rows = []
for npz in sorted(glob.glob(res + '/fold_*/validation/*.npz')):
    case = os.path.basename(npz)[:-4]
    p = np.load(npz)['probabilities'].astype(np.float32)
    g = sitk.GetArrayFromImage(sitk.ReadImage(f'{raw}/labelsTr/{case}.nii.gz'))
    c = sitk.GetArrayFromImage(sitk.ReadImage(f'{raw}/labelsTr_clean/{case}.nii.gz'))
    assert p.shape[1:] == g.shape, (p.shape, g.shape)
    noisy = bool((g != c).any())
    t = p.argmax(0); valid = np.ones_like(g, bool)
    r = {'case': case, 'noisy': noisy, 'argmax': disagreement_score(t, g, valid)}
    for T in (1.0, 2.14):
        lp = np.log(np.clip(p, 1e-6, 1)) / T; q = np.exp(lp - lp.max(0)); q /= q.sum(0)
        for conf in (0.8, 0.9, 0.95):
            r[f'conf{conf}_T{T}'] = disagreement_score(t, g, valid, q.max(0) >= conf)
    rows.append(r)
y = [r['noisy'] for r in rows]
for k in rows[0]:
    if k in ('case', 'noisy'): continue
    s = {r['case']: r[k] for r in rows}
    fl = flag_cases(s, k=3.0, margin=0.25)
    tp = sum(1 for r in rows if r['case'] in fl and r['noisy'])
    print(f"{k:16s} AUROC {roc_auc_score(y, [r[k] for r in rows]):.3f}  flagged {len(fl)} (TP {tp}) of {sum(y)} noisy")
