"""`nnunet-svl audit` on a dataset whose preprocessing RESAMPLES: two of five cases have thicker slices than the target
spacing (the median), so nnU-Net resamples them to more slices. The audit must map the label store back to each
case's original geometry: unchanged labels exactly, a painted block where it was painted. Two geometries: 1 mm
isotropic with 2 mm cases (nnU-Net resamples all axes together), and anisotropic 0.8 × 0.8 × 3 mm with 4.5 mm cases
(z / in-plane > 3: nnU-Net's separate-z resampling, in-plane and z apart)."""
from __future__ import annotations

import pickle
import subprocess

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_svl.runtime.label_store import LabelStore
from nnunet_svl.tools.pipeline import _bin
from variant_datasets import NARROW, RESAMPLE_GEOMETRIES, RESAMPLE_IDS, RESAMPLED_THICK


@pytest.mark.parametrize("geometry", sorted(RESAMPLE_GEOMETRIES))
def test_audit_maps_resampled_cases_back(variants_ws, tmp_path, geometry):
    import shutil

    from nnunetv2.preprocessing.resampling.default_resampling import get_do_separate_z
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

    dataset_id, (_, spacing, thick_z) = RESAMPLE_IDS[geometry], RESAMPLE_GEOMETRIES[geometry]
    ws = variants_ws
    ds = next(ws.raw.glob(f"Dataset{dataset_id}_*"))
    # the geometry exercises the resampling path it is named after (nnU-Net's own rule, spacing in z, y, x)
    assert get_do_separate_z((thick_z, spacing[1], spacing[0])) == (geometry == "separate_z")
    pre = ws.preprocessed / ds.name
    folder = pre / "nnUNetPlans_3d_fullres"
    run = tmp_path / ds.name / f"nnUNetTrainerSVLDRL__{NARROW}__3d_fullres"
    (run / "fold_0").mkdir(parents=True)
    shutil.copy(pre / f"{NARROW}.json", run / "plans.json")
    shutil.copy(pre / "dataset.json", run / "dataset.json")
    cases = sorted(p.name[:-len(".nii.gz")] for p in (ds / "labelsTr").glob("*.nii.gz"))
    dataset = infer_dataset_class(str(folder))(str(folder), cases)
    store = LabelStore(run / "fold_0" / "label_store")
    changed = RESAMPLED_THICK[0]
    for case in cases:
        label = np.asarray(dataset.load_case(case)[1][:]).astype(np.int16)
        orig = sitk.GetArrayFromImage(sitk.ReadImage(str(ds / "labelsTr" / f"{case}.nii.gz")))
        if case in RESAMPLED_THICK:
            assert label.shape[1] != orig.shape[0], "this case must have been resampled"
        if case == changed:
            label[0][label[0] >= 0] = 0                  # the corrected label: the lesion removed everywhere
        store.stage_case(1, case, label)
    store.commit_round(1, cases)

    out = tmp_path / "audit"
    proc = subprocess.run([_bin("nnunet-svl"), "audit", str(run), "--raw-dataset", str(ds), "--preprocessed-root",
                           str(ws.preprocessed), "-o", str(out)], env=ws.env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for case in cases:
        orig_img = sitk.ReadImage(str(ds / "labelsTr" / f"{case}.nii.gz"))
        corrected = sitk.ReadImage(str(out / f"{case}_corrected.nii.gz"))
        assert corrected.GetSize() == orig_img.GetSize() and corrected.GetSpacing() == orig_img.GetSpacing()
        orig, corr = sitk.GetArrayFromImage(orig_img), sitk.GetArrayFromImage(corrected)
        if case != changed:
            assert np.array_equal(orig, corr), case      # unchanged, resampled or not: voxel for voxel
        else:
            assert orig.any() and not corr.any()         # the removal lands on every original lesion voxel
            changes = sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"{case}_changes.nii.gz")))
            assert np.array_equal(changes > 0, orig > 0)
    props = pickle.loads((folder / f"{changed}.pkl").read_bytes())
    assert props["spacing"][0] == thick_z                 # (z, y, x): the original thick slices
