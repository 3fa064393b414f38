"""Benchmark diagnostics inside real nnU-Net training (NNUNET_SVL_CLEAN_LABELS): memorisation curves for the method
trainer and the stock baseline's budget variant, correction quality per label round, checked against the label
store's own counts."""
from __future__ import annotations

import json
import math

import pytest
import torch

from conftest import NARROW, NOISY_ID, noisy_dataset_dir
from nnunet_svl.trainers.diagnostics import CLEAN_LABELS_ENV_VAR, MEMORISATION_KEYS, QUALITY_KEYS, TEST_SET_ENV_VAR

FOLD = 4


ORACLE_WITHOUT_CLEAN = "nnUNetTrainerVA3C_OracleCaseGate_tiny"
BASELINE_WITH_TEST_SET = "nnUNetTrainerBaseline_tiny"


def _train_all(ws, trainers):
    """The trainings of this file on one fold, one after the other in one interpreter (one nnU-Net start-up), all with
    the clean labels named; then an oracle trainer without them, which must stop with a clear error."""
    from nnunet_svl.tools.pipeline import StepFailed

    ds = noisy_dataset_dir(ws)
    clean = {CLEAN_LABELS_ENV_VAR: str(ds / "labelsTr_clean")}
    # the stock baseline's run also names the dataset's test set: its learning curve on held-out cases
    runs = [(ws.train_args(NOISY_ID, t, fold=FOLD, plans=NARROW),
             {**clean, TEST_SET_ENV_VAR: str(ds)} if t == BASELINE_WITH_TEST_SET else clean) for t in trainers]
    runs.append((ws.train_args(NOISY_ID, ORACLE_WITHOUT_CLEAN, fold=FOLD, plans=NARROW), {}))
    with pytest.raises(StepFailed, match="ORACLE"):
        ws.train_sequence(runs, name="diagnostics")
    out = {}
    for t in trainers:
        fold = ws.run_folder(ds.name, t, plans=NARROW) / f"fold_{FOLD}"
        out[t] = fold, torch.load(fold / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    return out


def _check_curves(log):
    n = len(log["train_losses"])
    for key in MEMORISATION_KEYS:
        assert len(log[key]) == n, key
    # the fold's training cases include noisy ones (mt, rho 0.5) and clean ones
    assert all(0.0 <= v <= 1.0 for v in log["mem_noisy_vs_given"] + log["mem_noisy_vs_clean"])
    assert all(0.0 <= v <= 1.0 for v in log["mem_clean_vs_given"])


def _check_correction_quality(fold, ckpt):
    log = ckpt["logging"]
    _check_curves(log)
    for key in QUALITY_KEYS:
        assert len(log[key]) == len(log["train_losses"]), key
    diag = json.loads((fold / "svl_diagnostics.json").read_text())
    history = {h["round"]: h for h in json.loads((fold / "label_store" / "manifest.json").read_text())["history"]}
    rounds = {r["round"]: r for r in diag["rounds"]}
    assert rounds and set(rounds) == {r for r, h in history.items() if h["kind"] != "dale_init"}
    for r, figures in rounds.items():
        assert figures["kind"] == history[r]["kind"]
        # the diagnostics count the same flips as the round itself
        assert figures["flips_all"] == history[r].get("flipped", 0)
        assert figures["cases_noisy"] >= 1 and figures["cases_clean"] >= 1
        assert 0.0 <= figures["dice_in_force_c1_all"] <= 1.0
        assert math.isnan(figures["omega_auroc_voxels"]) or 0.0 <= figures["omega_auroc_voxels"] <= 1.0
    correction = [f for f in rounds.values() if f["kind"] == "correction"]
    assert correction, "the tiny schedule reaches a correction round"


def _check_baseline_curves(fold, ckpt):
    """The stock baseline logs the curves too, and with the test set named its Dice on the 2 held-out test cases
    every epoch; the other runs of the sequence (no test set) log NaN there (no leak of the variable)."""
    log = ckpt["logging"]
    _check_curves(log)
    assert all(0.0 <= v <= 1.0 for v in log["mem_test_vs_clean"]), log["mem_test_vs_clean"]
    assert log["mem_test_vs_clean"][-1] > 0.0       # 15 iterations segment part of a lesion (demo test: Dice ~0.6)


def _check_oracle_voxel_gate(fold, ckpt):
    """The upper-bound ablation: with the oracle voxel gate every committed flip matches the clean label (flip
    precision 1), and the labels in force of the noisy cases get closer to the clean ones, never further."""
    rounds = json.loads((fold / "svl_diagnostics.json").read_text())["rounds"]
    correction = [r for r in rounds if r["kind"] == "correction"]
    assert correction
    for r in correction:
        assert r["flips_all"] == 0 or r["flip_precision_all"] == 1.0
        assert r["net_fixed_all"] >= 0 and r["dice_in_force_c1_clean"] == 1.0


def _check_teacher_gate(fold, ckpt):
    """The teacher gate: flags are reported every round; a case that is not flagged keeps its given label exactly
    (so a clean case that is not flagged is untouched), and the round counts its flags."""
    assert all(math.isnan(v) for v in ckpt["logging"]["mem_test_vs_clean"])   # the test set: the baseline's only
    rounds = json.loads((fold / "svl_diagnostics.json").read_text())["rounds"]
    assert rounds and all("flags" in r for r in rounds)
    for r in rounds:
        if r["flagged_clean_cases"] == 0:
            assert r["net_fixed_clean"] == 0 and r["dice_in_force_c1_clean"] == 1.0
        if r["flags"] == 0:
            assert r["flips_all"] == 0
    assert any(k.startswith("teacher.") for k in ckpt["svl_modules"])     # the EMA teacher is checkpointed


def _check_oracle_flags(fold, ckpt):
    """The teacher gate's upper bound: with oracle flags, every round after the flags were decided flags the fold's
    noisy cases and only those (precision and recall 1), and the clean cases keep their given labels."""
    rounds = json.loads((fold / "svl_diagnostics.json").read_text())["rounds"]
    decided = [r for r in rounds if r["flags"] > 0]
    assert decided, "the tiny schedule decides flags"
    for r in decided:
        assert r["flag_precision"] == 1.0 and r["flag_recall"] == 1.0 and r["flagged_clean_cases"] == 0
        assert r["net_fixed_clean"] == 0 and r["dice_in_force_c1_clean"] == 1.0
    assert ckpt["svl_state"]["gate_flag_counts"]


CHECKS = {
    "nnUNetTrainerSVLDRL_Paper_tiny": _check_correction_quality,
    "nnUNetTrainerBaseline_tiny": _check_baseline_curves,
    "nnUNetTrainerSVLDRL_OracleVoxelGate_tiny": _check_oracle_voxel_gate,
    "nnUNetTrainerSVLDRL_tiny": _check_teacher_gate,
    "nnUNetTrainerSVLDRL_OracleFlags_tiny": _check_oracle_flags,
}


def test_diagnostics_in_real_nnunet_training(nnunet_ws):
    """Each trainer above, trained by nnU-Net on the fold, passes its check; an oracle trainer without the clean
    labels stops with an error that says ORACLE (``_train_all``)."""
    runs = _train_all(nnunet_ws, list(CHECKS))
    for trainer, check in CHECKS.items():
        check(*runs[trainer])
