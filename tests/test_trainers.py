"""The plugin's trainers on real nnU-Net: train with nnUNetv2_train on CPU, resume with --c after SIGKILL, and
predict with the stock nnUNetv2_predict (the checkpoint's network_weights load strictly into nnU-Net's network)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from conftest import NARROW, NOISY_ID, noisy_dataset_dir
from nnunet_svl.pipeline import StepFailed, _bin
from nnunet_svl.trainers.registry import TRAINERS


def _fold_dir(ws, trainer: str, fold: int = 0) -> Path:
    return ws.run_folder(noisy_dataset_dir(ws).name, trainer, plans=NARROW) / f"fold_{fold}"


def _checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def _stock_network_keys(ws, trainer: str) -> set:
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    run = _fold_dir(ws, trainer).parent
    pm = PlansManager(json.loads((run / "plans.json").read_text()))
    cm = pm.get_configuration("3d_fullres")
    dj = json.loads((run / "dataset.json").read_text())
    net = nnUNetTrainer.build_network_architecture(pm, cm, determine_num_input_channels(pm, cm, dj),
                                                   pm.get_label_manager(dj).num_segmentation_heads, True)
    return set(net.state_dict())


def _check_finished_run(ws, trainer: str, expect_correction: bool, expect_head: bool) -> dict:
    fold = _fold_dir(ws, trainer)
    ckpt = _checkpoint(fold / "checkpoint_final.pth")
    cls = TRAINERS[trainer]
    # the stock predictor loads network_weights strictly: nothing of the plugin may be inside
    assert set(ckpt["network_weights"]) == _stock_network_keys(ws, trainer)
    assert any(k.startswith("va3c_head.") for k in ckpt["svl_modules"]) == expect_head
    assert ckpt["svl_config"] == {**ckpt["svl_config"], **cls.svl_config.to_dict()}
    log = ckpt["logging"]
    n_epochs = len(log["train_losses"])
    for key in cls.svl_log_keys:
        assert len(log[key]) == n_epochs, key   # one value per epoch, so nnU-Net's progress plot stays aligned
    assert (fold / "progress_svl.png").is_file() and (fold / "progress.png").is_file()
    manifest = json.loads((fold / "label_store" / "manifest.json").read_text())
    assert manifest["round"] == ckpt["svl_state"]["label_store_round"] >= 1
    kinds = [h["kind"] for h in manifest["history"]]
    assert [h["round"] for h in manifest["history"]] == list(range(1, manifest["round"] + 1))
    assert ("correction" in kinds) == expect_correction
    return ckpt


@pytest.mark.parametrize("trainer, correction, head, stages", [
    ("nnUNetTrainerVA3C_tiny", True, True, [0.0, 1.0, 2.0]),          # warm-up, transition, full RL
    ("nnUNetTrainerDALE_tiny", False, False, [0.0, 0.0, 0.0]),
    ("nnUNetTrainerVA3C_NoWarmup_tiny", True, True, [1.0, 1.0, 2.0]),  # the paper's ablation: no warm-up
    ("nnUNetTrainerVA3C_Intensity_tiny", True, True, [0.0, 1.0, 2.0]),  # the paper's literal intensity action
])
def test_method_trainer_trains_and_stock_predicts(nnunet_ws, tmp_path, trainer, correction, head, stages):
    nnunet_ws.train(NOISY_ID, trainer, plans=NARROW)
    ckpt = _check_finished_run(nnunet_ws, trainer, correction, head)
    assert ckpt["logging"]["svl_stage"] == stages
    ds = noisy_dataset_dir(nnunet_ws)
    out = tmp_path / "pred"
    nnunet_ws.predict(NOISY_ID, trainer, ds / "imagesTs", out, plans=NARROW)
    assert sorted(p.name for p in out.glob("*.nii.gz")) == sorted(p.name for p in (ds / "labelsTs").glob("*.nii.gz"))


def _wait_for(path: Path, text: str, proc: subprocess.Popen, timeout: float = 600) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if path.is_file() and text in path.read_text(errors="ignore"):
            return
        if proc.poll() is not None:
            raise AssertionError(f"training ended before '{text}' appeared:\n{path.read_text()[-2000:]}")
        time.sleep(0.5)
    raise AssertionError(f"'{text}' did not appear in {path}")


def test_sigkill_then_resume_continues_exactly(nnunet_ws):
    """Kill -9 right after the first committed round of epoch 1, resume with --c: same stage, same label-store round,
    no round applied twice, and the given dataset files untouched."""
    trainer = "nnUNetTrainerSVLDRL_tiny"
    ds = noisy_dataset_dir(nnunet_ws)
    before = {p: p.read_bytes() for p in sorted((ds / "labelsTr").glob("*"))}
    fold = _fold_dir(nnunet_ws, trainer, fold=1)
    log = nnunet_ws.log_dir / "kill_train.log"
    argv = [_bin("nnUNetv2_train"), str(NOISY_ID), "3d_fullres", "1", "-tr", trainer, "-p", NARROW, "-device", "cpu"]
    with open(log, "w") as f:
        proc = subprocess.Popen(argv, env={**nnunet_ws.env, "nnUNet_n_proc_DA": "0"}, stdout=f,
                                stderr=subprocess.STDOUT)
    try:
        # epoch 1 ends with DALE statistics round 3; the checkpoint written right after it holds round 3
        _wait_for(log, "Epoch 2", proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    ckpt = _checkpoint(fold / "checkpoint_latest.pth")
    assert ckpt["current_epoch"] == 2 and ckpt["svl_state"]["stage"] == 2
    assert ckpt["svl_state"]["label_store_round"] == 3
    nnunet_ws.train(NOISY_ID, trainer, fold=1, plans=NARROW, resume=True, name="resume_train")
    final = _checkpoint(fold / "checkpoint_final.pth")
    history = json.loads((fold / "label_store" / "manifest.json").read_text())["history"]
    assert [h["round"] for h in history] == [1, 2, 3, 4]           # no round lost or applied twice
    assert history[-1]["kind"] == "correction" and history[-1]["epoch"] == 2
    assert final["svl_state"]["label_store_round"] == 4
    assert final["logging"]["svl_stage"] == [0.0, 1.0, 2.0]
    assert {p: p.read_bytes() for p in sorted((ds / "labelsTr").glob("*"))} == before


@pytest.mark.parametrize("failpoint", ["label-store-staged:4", "label-store-committed:4"])
def test_sigkill_during_a_correction_round_then_resume(nnunet_ws, failpoint):
    """SIGKILL inside correction round 4 (epoch 2): once with the round half staged, once with the round committed
    to the manifest but not yet checkpointed. ``--c`` rolls the label store back to the checkpoint's round 3 and
    redoes round 4 exactly once; the given dataset files are byte-identical."""
    from nnunet_svl.failpoints import FAILPOINT_ENV

    trainer = "nnUNetTrainerSVLDRL_tiny"
    ds = noisy_dataset_dir(nnunet_ws)
    before = {p: p.read_bytes() for p in sorted(ds.rglob("*")) if p.is_file()}
    fold_index = 3 if failpoint.startswith("label-store-staged") else 4
    fold = _fold_dir(nnunet_ws, trainer, fold=fold_index)
    with pytest.raises(StepFailed, match="exit -9"):
        nnunet_ws.train(NOISY_ID, trainer, fold=fold_index, plans=NARROW, extra_env={FAILPOINT_ENV: failpoint},
                        name=f"killed_in_round_{fold_index}")
    ckpt = _checkpoint(fold / "checkpoint_latest.pth")
    assert ckpt["current_epoch"] == 2 and ckpt["svl_state"]["label_store_round"] == 3
    manifest = json.loads((fold / "label_store" / "manifest.json").read_text())
    if failpoint.startswith("label-store-staged"):
        assert manifest["round"] == 3 and any((fold / "label_store" / "r0004").glob("*.npz"))  # torn, uncommitted
    else:
        assert manifest["round"] == 4 and manifest["history"][-1]["kind"] == "correction"  # ahead of the checkpoint
    nnunet_ws.train(NOISY_ID, trainer, fold=fold_index, plans=NARROW, resume=True, name=f"resumed_{fold_index}")
    final = _checkpoint(fold / "checkpoint_final.pth")
    history = json.loads((fold / "label_store" / "manifest.json").read_text())["history"]
    assert [h["round"] for h in history] == [1, 2, 3, 4]
    assert [h["kind"] for h in history][-1] == "correction" and history[-1]["epoch"] == 2
    assert final["svl_state"]["label_store_round"] == 4
    assert final["logging"]["svl_stage"] == [0.0, 1.0, 2.0]
    assert not (fold / "label_store" / "r0005").exists()
    assert {p: p.read_bytes() for p in sorted(ds.rglob("*")) if p.is_file()} == before
