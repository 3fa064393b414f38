"""Every nnU-Net configuration and dataset kind, with the full method (``nnUNetTrainerSVLDRL_tiny``): trained by
``nnUNetv2_train`` on CPU, predicted by the stock ``nnUNetv2_predict``.

* Dataset983: two input channels, two foreground classes and an ignore label (value 3 on three slices of every
  training label) → ``2d``, and ``3d_lowres`` → ``3d_cascade_fullres`` (a 3d_fullres network on the previous
  stage's segmentation). The label store must keep every ignore voxel as ignore (corrections never touch them).
* Dataset984: BraTS-style regions (whole = {1, 2}, core = {2}) with a single training case → fold 0 is refused with a
  one-line error naming ``splits_final.json`` (nnU-Net's 5-fold split needs 5 cases), fold ``all`` trains and predicts.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_svl.runtime.label_store import LabelStore
from nnunet_svl.tools.pipeline import NNUNetWorkspace, StepFailed

from variant_datasets import IGNORE_VALUE, MULTI_ID, NARROW, REGIONS_ID, write_cascade_plans

CASCADE = "nnUNetPlans_narrowcascade"
TRAINER = "nnUNetTrainerSVLDRL_tiny"


@pytest.fixture(scope="module")
def ws(variants_ws) -> NNUNetWorkspace:
    return variants_ws


def _dataset(ws, dataset_id: int, root: str = "raw") -> Path:
    return next(getattr(ws, root).glob(f"Dataset{dataset_id:03d}_*"))


def _check_predictions(ws, dataset_id: int, out: Path, allowed: set) -> None:
    """One prediction per test image, in the test label's exact geometry, with declared values only."""
    refs = sorted((_dataset(ws, dataset_id) / "labelsTs").glob("*.nii.gz"))
    assert sorted(p.name for p in out.glob("*.nii.gz")) == [p.name for p in refs]
    for ref in refs:
        pred, lab = sitk.ReadImage(str(out / ref.name)), sitk.ReadImage(str(ref))
        assert pred.GetSize() == lab.GetSize()
        assert np.allclose(pred.GetSpacing(), lab.GetSpacing()) and np.allclose(pred.GetOrigin(), lab.GetOrigin())
        assert np.allclose(pred.GetDirection(), lab.GetDirection())
        assert set(np.unique(sitk.GetArrayFromImage(pred)).tolist()) <= allowed


def _check_label_store_keeps_ignore(ws, run_fold: Path, configuration_folder: str) -> None:
    """Every training case's stored label equals IGNORE exactly where nnU-Net's preprocessed label does."""
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

    manifest = json.loads((run_fold / "label_store" / "manifest.json").read_text())
    assert "correction" in [h["kind"] for h in manifest["history"]]
    store = LabelStore(run_fold / "label_store")
    folder = str(_dataset(ws, MULTI_ID, "preprocessed") / configuration_folder)
    dataset = infer_dataset_class(folder)(folder)
    stored_any = False
    for case in dataset.identifiers:
        stored = store.load(case)
        if stored is None:
            continue
        stored_any = True
        original = np.asarray(dataset.load_case(case)[1][:])[0]
        assert original.shape == stored.label.shape[-original.ndim:]
        stored_label = stored.label.reshape(original.shape)
        assert np.array_equal(stored_label == IGNORE_VALUE, original == IGNORE_VALUE), case
    assert stored_any


def test_2d_multichannel_multiclass_ignore(ws, tmp_path):
    """(3d_fullres on this dataset is trained as the cascade's second stage below.)"""
    configuration = "2d"
    ws.train(MULTI_ID, TRAINER, configuration=configuration, plans=NARROW)
    fold = ws.run_folder(_dataset(ws, MULTI_ID).name, TRAINER, configuration, NARROW) / "fold_0"
    assert (fold / "checkpoint_final.pth").is_file()
    _check_label_store_keeps_ignore(ws, fold, f"nnUNetPlans_{configuration}")
    out = tmp_path / "pred"
    ws.predict(MULTI_ID, TRAINER, _dataset(ws, MULTI_ID) / "imagesTs", out, configuration=configuration,
               plans=NARROW)
    _check_predictions(ws, MULTI_ID, out, {0, 1, 2})


def test_lowres_then_cascade(ws, tmp_path):
    """3d_lowres trains (fold all, so its validation exports every case's segmentation for the next stage), then
    3d_cascade_fullres trains on it; the stock predictor runs both stages."""
    from nnunet_svl.tools.pipeline import _bin

    write_cascade_plans(_dataset(ws, MULTI_ID, "preprocessed"), NARROW, CASCADE)
    ws.run("preprocess_lowres", [_bin("nnUNetv2_preprocess"), "-d", str(MULTI_ID), "-plans_name", CASCADE,
                                 "-c", "3d_lowres", "-np", "1"])
    # both stages one after the other in one interpreter (one nnU-Net start-up), as `nnUNetv2_train ... 3d_lowres all
    # && nnUNetv2_train ... 3d_cascade_fullres all`
    ws.train_sequence([(ws.train_args(MULTI_ID, TRAINER, configuration, "all", CASCADE), {})
                       for configuration in ("3d_lowres", "3d_cascade_fullres")], name="train_lowres_then_cascade")
    run_low = ws.run_folder(_dataset(ws, MULTI_ID).name, TRAINER, "3d_lowres", CASCADE)
    exported = {p.name.split(".")[0] for p in (run_low / "predicted_next_stage" / "3d_cascade_fullres").iterdir()}
    assert exported == {f"MultiChannelIgnore_{i:03d}" for i in range(5)}
    _check_label_store_keeps_ignore(ws, run_low / "fold_all", f"{CASCADE}_3d_lowres")
    run_cascade = ws.run_folder(_dataset(ws, MULTI_ID).name, TRAINER, "3d_cascade_fullres", CASCADE)
    _check_label_store_keeps_ignore(ws, run_cascade / "fold_all", "nnUNetPlans_3d_fullres")
    images = _dataset(ws, MULTI_ID) / "imagesTs"
    low, full = tmp_path / "low", tmp_path / "full"
    ws.predict(MULTI_ID, TRAINER, images, low, configuration="3d_lowres", folds=("all",), plans=CASCADE)
    ws.predict(MULTI_ID, TRAINER, images, full, configuration="3d_cascade_fullres", folds=("all",), plans=CASCADE,
               extra_args=("-prev_stage_predictions", str(low)))
    _check_predictions(ws, MULTI_ID, low, {0, 1, 2})
    _check_predictions(ws, MULTI_ID, full, {0, 1, 2})
    # `audit --fold all` (issue 14, item 7) on the 3d_lowres run: its label store is at the low resolution and goes
    # back to every case's original geometry
    out = tmp_path / "audit"
    proc = subprocess.run([_bin("nnunet-svl"), "audit", str(run_low), "--fold", "all", "-o", str(out)],
                          env=ws.env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for case in exported:
        original = sitk.ReadImage(str(_dataset(ws, MULTI_ID) / "labelsTr" / f"{case}.nii.gz"))
        corrected = sitk.ReadImage(str(out / f"{case}_corrected.nii.gz"))
        assert corrected.GetSize() == original.GetSize() and corrected.GetSpacing() == original.GetSpacing()


def test_regions_with_a_single_training_case(ws, tmp_path):
    name = _dataset(ws, REGIONS_ID).name
    # fold all trains; then fold 0 is refused (one interpreter, one after the other; the sequence stops there)
    with pytest.raises(StepFailed):
        ws.train_sequence([(ws.train_args(REGIONS_ID, TRAINER, fold=f, plans=NARROW), {}) for f in ("all", 0)],
                          name="train_regions_all_then_fold0")
    log = (ws.log_dir / "train_regions_all_then_fold0.log").read_text()
    splits = _dataset(ws, REGIONS_ID, "preprocessed") / "splits_final.json"
    assert f"{splits}: the dataset has 1 training case(s), too few for nnU-Net's 5-fold" in log
    assert "Fix: train fold 'all'" in log and not splits.exists()

    fold = ws.run_folder(name, TRAINER, plans=NARROW) / "fold_all"
    assert (fold / "checkpoint_final.pth").is_file()
    manifest = json.loads((fold / "label_store" / "manifest.json").read_text())
    # region targets are built inside nnU-Net's transforms: the method keeps labels as given (README, regions)
    assert "correction" not in [h["kind"] for h in manifest["history"]]
    out = tmp_path / "pred"
    ws.predict(REGIONS_ID, TRAINER, _dataset(ws, REGIONS_ID) / "imagesTs", out, folds=("all",), plans=NARROW)
    _check_predictions(ws, REGIONS_ID, out, {0, 1, 2})
