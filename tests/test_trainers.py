"""The plugin's trainers on real nnU-Net: train with nnUNetv2_train on CPU, resume with --c after SIGKILL, and
predict with the stock nnUNetv2_predict (the checkpoint's network_weights load strictly into nnU-Net's network)."""
from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional

import pytest
import torch

from conftest import NARROW, NOISY_ID, noisy_dataset_dir
from nnunet_svl.tools.pipeline import StepFailed, _bin
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
    # the CI budget switches test-time mirroring off (budgets.NO_TEST_TIME_MIRRORING); the stock predictor reads this
    assert ckpt["inference_allowed_mirroring_axes"] is None
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


def _killed_in_round_then_resumed(ws, trainer: str, fold: int, failpoint: str,
                                  check_killed: Optional[Callable[[Path], None]] = None) -> tuple[dict, dict, list]:
    """Train until the process SIGKILLs itself at ``failpoint`` (inside a label round of the last epoch), run
    ``check_killed(fold folder)``, then ``--c --val_best``. Returns the checkpoint the kill left, the final checkpoint
    and the label store's history; checks that the given dataset files are byte-identical throughout."""
    from nnunet_svl.runtime.failpoints import FAILPOINT_ENV

    ds = noisy_dataset_dir(ws)
    before = {p: p.read_bytes() for p in sorted(ds.rglob("*")) if p.is_file()}
    fold_dir = _fold_dir(ws, trainer, fold=fold)
    with pytest.raises(StepFailed, match="exit -9"):
        ws.train(NOISY_ID, trainer, fold=fold, plans=NARROW, extra_env={FAILPOINT_ENV: failpoint},
                 name=f"killed_{trainer}_{fold}")
    at_kill = _checkpoint(fold_dir / "checkpoint_latest.pth")
    if check_killed is not None:
        check_killed(fold_dir)
    # --val_best: after training nnU-Net reloads checkpoint_best.pth for the final validation; the label store must
    # keep every round the run committed (checked below: none lost), not roll back to the best checkpoint's round
    ws.train(NOISY_ID, trainer, fold=fold, plans=NARROW, resume=True, name=f"resumed_{trainer}_{fold}",
             extra_args=["--val_best"])
    final = _checkpoint(fold_dir / "checkpoint_final.pth")
    history = json.loads((fold_dir / "label_store" / "manifest.json").read_text())["history"]
    logs = "".join(p.read_text() for p in fold_dir.glob("training_log_*.txt"))
    assert f"for validation; the label store keeps round {len(history)}" in logs
    assert {p: p.read_bytes() for p in sorted(ds.rglob("*")) if p.is_file()} == before
    return at_kill, final, history


@pytest.mark.parametrize("trainer, failpoint, last_kind, head, stages", [
    # round 1: the edge repair before training; warm-up, transition, full RL; killed after correction round 2 was
    # committed, before the epoch's checkpoint (a round killed half written: the full method's test below)
    ("nnUNetTrainerVA3C_tiny", "label-store-committed:2", "correction", True, [0.0, 1.0, 2.0]),
    # rounds: the edge repair with DALE's initial weights, then loss statistics after every epoch; killed after round
    # 4 was committed
    ("nnUNetTrainerDALE_tiny", "label-store-committed:4", "dale_stats", False, [0.0, 0.0, 0.0]),
])
def test_method_trainer_trains_resumes_and_stock_predicts(nnunet_ws, tmp_path, trainer, failpoint, last_kind, head,
                                                           stages):
    """Each trainer: killed inside its last label round (epoch 2), resumed with ``--c`` from the epoch-1 checkpoint
    (same stage, the label store rolled back to the checkpoint's round, that round redone once), then predicted by
    the stock nnUNetv2_predict."""
    last_round = int(failpoint.split(":")[1])
    at_kill, final, history = _killed_in_round_then_resumed(nnunet_ws, trainer, 0, failpoint)
    assert at_kill["current_epoch"] == 2 and at_kill["svl_state"]["label_store_round"] == last_round - 1
    assert at_kill["logging"]["svl_stage"] == stages[:2]
    assert [h["round"] for h in history] == list(range(1, last_round + 1))   # none lost, none applied twice
    assert history[-1]["kind"] == last_kind and history[-1]["epoch"] == 2
    ckpt = _check_finished_run(nnunet_ws, trainer, last_kind == "correction", head)
    assert ckpt["svl_state"]["label_store_round"] == last_round
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
    argv = [_bin("nnUNetv2_train"), *nnunet_ws.train_args(NOISY_ID, trainer, fold=1, plans=NARROW)]
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


def test_sigkill_during_a_correction_round_then_resume(nnunet_ws):
    """The full method, SIGKILL inside correction round 4 (epoch 2) with the round half staged. ``--c`` rolls the
    label store back to the checkpoint's round 3 and redoes round 4 exactly once; the given dataset files are
    byte-identical. (A round committed but not yet checkpointed is the VA3C and DALE cases above.)"""
    trainer = "nnUNetTrainerSVLDRL_tiny"
    fold_index = 3

    def torn_state(fold: Path) -> None:
        manifest = json.loads((fold / "label_store" / "manifest.json").read_text())
        assert manifest["round"] == 3 and any((fold / "label_store" / "r0004").glob("*.b2nd"))  # uncommitted

    at_kill, final, history = _killed_in_round_then_resumed(nnunet_ws, trainer, fold_index,
                                                            "label-store-staged:4", torn_state)
    assert at_kill["current_epoch"] == 2 and at_kill["svl_state"]["label_store_round"] == 3
    assert [h["round"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["kind"] == "correction" and history[-1]["epoch"] == 2
    assert final["svl_state"]["label_store_round"] == 4
    assert final["logging"]["svl_stage"] == [0.0, 1.0, 2.0]
    assert not (_fold_dir(nnunet_ws, trainer, fold=fold_index) / "label_store" / "r0005").exists()

