"""End to end, as a user would: demo-dataset → corrupt → nnUNetv2_plan_and_preprocess → nnUNetv2_train (the full
method, short budget, CPU) → stock nnUNetv2_predict → nnunet-svl evaluate on the clean test labels."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import SimpleITK as sitk

from conftest import NARROW, NOISY_ID, noisy_dataset_dir
from nnunet_svl.tools.pipeline import _bin

TRAINER = "nnUNetTrainerSVLDRL_demo"   # 300 iterations: enough for a Dice floor on 32³ phantoms


def test_full_journey_with_stock_predictor(nnunet_ws, tmp_path):
    ds = noisy_dataset_dir(nnunet_ws)
    manifest = json.loads((ds / "noise_manifest.json").read_text())
    assert sum(c["noisy"] for c in manifest["cases"].values()) == 3   # rho = 0.5 of 6 training cases

    # seeded (NNUNET_SVL_TRAIN_SEED): on this 6-case fixture an unseeded 300-iteration run sometimes never leaves the
    # all-background solution (seen with the code before and after the method-parts refactor); the seed makes the
    # test's outcome repeatable (CPU training is still not bit-exact across machines)
    # nnU-Net's console scripts themselves, as a user types them (the workspace's train() and predict() run their
    # entry functions, nnunet_svl/tools/pipeline.py)
    nnunet_ws.run("e2e_train", [_bin("nnUNetv2_train"), *nnunet_ws.train_args(NOISY_ID, TRAINER, plans=NARROW)],
                  extra_env={"NNUNET_SVL_TRAIN_SEED": "1", "nnUNet_n_proc_DA": "0"})
    pred = tmp_path / "pred"
    nnunet_ws.run("e2e_predict", [_bin("nnUNetv2_predict"),
                                  *nnunet_ws.predict_args(NOISY_ID, TRAINER, ds / "imagesTs", pred, plans=NARROW)])

    out = tmp_path / "eval.json"
    proc = subprocess.run([_bin("nnunet-svl"), "evaluate", str(pred), str(ds / "labelsTs"), "--dataset-json",
                           str(ds / "dataset.json"), "-o", str(out)], env=nnunet_ws.env, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert "lesion" in proc.stdout

    # predictions have the input geometry
    for img_path in sorted((ds / "imagesTs").glob("*_0000.nii.gz")):
        case = img_path.name[: -len("_0000.nii.gz")]
        img, seg = sitk.ReadImage(str(img_path)), sitk.ReadImage(str(pred / f"{case}.nii.gz"))
        assert seg.GetSize() == img.GetSize()
        assert np.allclose(seg.GetSpacing(), img.GetSpacing())
        assert np.allclose(seg.GetOrigin(), img.GetOrigin())
        assert np.allclose(seg.GetDirection(), img.GetDirection())

    result = json.loads(out.read_text())
    dice = result["per_class"]["lesion"]["dice"]["mean"]
    # 300 CPU iterations on noisy labels: clearly better than chance, far from converged
    assert dice > 0.3, dice
