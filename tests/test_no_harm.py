"""No harm by construction (docs/METHOD.md §5): with the teacher gate, a run in which no case is flagged trains the
segmentation network exactly as nnUNetTrainer does — same batches, same loss, same optimiser steps — so the weights
after training are bit-identical to the stock trainer's at the same seed. Real nnU-Net training on the test phantoms.
"""
from __future__ import annotations

import json

import torch

from conftest import NARROW, NOISY_ID, noisy_dataset_dir
from nnunet_svl.runtime.config import CONFIG_ENV_VAR
from nnunet_svl.runtime.seeding import TRAIN_SEED_ENV_VAR

FOLD = 2


def _weights(ws, trainer: str) -> tuple[dict, dict]:
    path = ws.run_folder(noisy_dataset_dir(ws).name, trainer, plans=NARROW) / f"fold_{FOLD}" / "checkpoint_final.pth"
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    return ckpt["network_weights"], ckpt


def test_gated_method_without_flags_trains_exactly_as_nnunet(nnunet_ws, tmp_path):
    # the gate never flags (gate_start beyond the run): every case is one the method must leave alone
    config = tmp_path / "never_flag.json"
    config.write_text(json.dumps({"gate_start": 1000}))
    # both in one interpreter, one after the other (one nnU-Net start-up); each seeds itself at its start
    seed = {TRAIN_SEED_ENV_VAR: "3"}
    nnunet_ws.train_sequence([
        (nnunet_ws.train_args(NOISY_ID, "nnUNetTrainerBaseline_tiny", fold=FOLD, plans=NARROW), seed),
        (nnunet_ws.train_args(NOISY_ID, "nnUNetTrainerSVLDRL_tiny", fold=FOLD, plans=NARROW),
         {**seed, CONFIG_ENV_VAR: str(config)})], name="noharm")
    baseline, _ = _weights(nnunet_ws, "nnUNetTrainerBaseline_tiny")
    gated, ckpt = _weights(nnunet_ws, "nnUNetTrainerSVLDRL_tiny")
    assert ckpt["svl_state"].get("gate_flag_counts", {}) == {}
    # the method did run: DALE's and vA3C's rounds were committed and the head trained
    assert ckpt["svl_state"]["label_store_round"] >= 2
    assert any(k.startswith("va3c_head") for k in ckpt["svl_modules"])
    assert set(gated) == set(baseline)
    different = [k for k in baseline if not torch.equal(baseline[k], gated[k])]
    assert not different, f"{len(different)} of {len(baseline)} tensors differ from nnUNetTrainer's, e.g. {different[:3]}"
