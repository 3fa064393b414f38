"""`nnunet-svl audit`: label-store contents mapped back to the ORIGINAL image geometry."""
from __future__ import annotations

import csv
import shutil
import subprocess

import numpy as np
import SimpleITK as sitk

from conftest import NARROW, noisy_dataset_dir
from nnunet_svl.runtime.label_store import LabelStore
from nnunet_svl.tools.pipeline import _bin


def _fake_run(ws, tmp_path):
    """A run folder as nnUNetv2_train leaves it (plans.json, dataset.json, fold_0/label_store)."""
    ds = noisy_dataset_dir(ws)
    pre = ws.preprocessed / ds.name
    run = tmp_path / ds.name / f"nnUNetTrainerSVLDRL__{NARROW}__3d_fullres"
    (run / "fold_0").mkdir(parents=True)
    shutil.copy(pre / f"{NARROW}.json", run / "plans.json")
    shutil.copy(pre / "dataset.json", run / "dataset.json")
    return ds, pre / "nnUNetPlans_3d_fullres", run


def _given(folder, case):
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

    cls = infer_dataset_class(str(folder))
    return np.asarray(cls(str(folder), [case]).load_case(case)[1][:])


def test_audit_round_trips_exactly_and_locates_changes(nnunet_ws, tmp_path):
    ds, pp_folder, run = _fake_run(nnunet_ws, tmp_path)
    cases = sorted(p.name[:-len(".nii.gz")] for p in (ds / "labelsTr").glob("*.nii.gz"))
    store = LabelStore(run / "fold_0" / "label_store")
    changed_case = cases[0]
    for case in cases:
        label = _given(pp_folder, case).astype(np.int16)
        omega = np.ones(label.shape, np.float32)
        if case == changed_case:
            label[0, 2:6, 3:7, 4:8] = 1    # paint a 4×4×4 block of foreground
            omega[0, 2:6, 3:7, 4:8] = 0.25
        store.stage_case(1, case, label, omega=omega)
    store.commit_round(1, cases)

    out = tmp_path / "audit"
    proc = subprocess.run([_bin("nnunet-svl"), "audit", str(run), "--raw-dataset", str(ds), "--preprocessed-root",
                           str(nnunet_ws.preprocessed), "-o", str(out)], env=nnunet_ws.env, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr

    for case in cases:
        orig_img = sitk.ReadImage(str(ds / "labelsTr" / f"{case}.nii.gz"))
        corrected = sitk.ReadImage(str(out / f"{case}_corrected.nii.gz"))
        for img in (corrected, sitk.ReadImage(str(out / f"{case}_changes.nii.gz")),
                    sitk.ReadImage(str(out / f"{case}_suspicion.nii.gz"))):
            assert img.GetSize() == orig_img.GetSize()
            assert img.GetSpacing() == orig_img.GetSpacing() and img.GetOrigin() == orig_img.GetOrigin()
            assert img.GetDirection() == orig_img.GetDirection()
        orig, corr = sitk.GetArrayFromImage(orig_img), sitk.GetArrayFromImage(corrected)
        if case != changed_case:
            assert np.array_equal(orig, corr)          # unchanged labels map back voxel for voxel
        else:
            # no resampling in this dataset, so the block lands exactly where it was painted (after nnU-Net's
            # transpose / crop, which here are the identity)
            import pickle

            props = pickle.loads((pp_folder / f"{case}.pkl").read_bytes())
            (x0, _), (y0, _), (z0, _) = props["bbox_used_for_cropping"]   # transpose is the identity here
            expected = orig.copy()
            expected[x0 + 2:x0 + 6, y0 + 3:y0 + 7, z0 + 4:z0 + 8] = 1
            assert np.array_equal(corr, expected)
            changes = sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"{case}_changes.nii.gz")))
            assert set(np.unique(changes[expected != orig])) == {1} and (changes[expected == orig] == 0).all()
            suspicion = sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"{case}_suspicion.nii.gz")))
            assert np.allclose(suspicion[x0 + 2:x0 + 6, y0 + 3:y0 + 7, z0 + 4:z0 + 8], 0.75)

    rows = list(csv.DictReader((out / "audit.csv").open()))
    assert rows[0]["case"] == changed_case and int(rows[0]["changed_voxels"]) > 0
    assert all(int(r["changed_voxels"]) == 0 for r in rows[1:])
    assert (out / f"{changed_case}_overlay.png").is_file()
