"""Every ablation variant trains: for each ablation of nnUNetTrainerSVLDRL (which carries every RL and DALE ablation)
and the two single-method trainers, the real trainer (tiny budget, in-process) runs training iterations in every
stage of its schedule with a case flagged (so the method's per-batch work runs), and the losses stay finite."""
from __future__ import annotations

import math

import pytest
import torch

from conftest import NARROW, NOISY_ID
from nnunet_svl.trainers.registry import ABLATIONS

ORACLES = {"OracleCaseGate", "OracleVoxelGate", "OracleFlags", "OracleFlips"}     # need the clean labels; trained in test_diagnostics_trainer.py
NEEDS_QA = {"LabelQA", "LabelQAAll", "LabelQAReached"}                           # needs a label-qa folder; tests/test_label_qa_prior.py
# VA3C_Intensity: the paper's literal intensity action on the VA3C trainer (its kill-and-resume path is VA3C's, run in
# test_trainers.py)
TRAINERS = ["nnUNetTrainerVA3C_tiny", "nnUNetTrainerVA3C_Intensity_tiny", "nnUNetTrainerDALE_tiny"] + [
    f"nnUNetTrainerSVLDRL_{a}_tiny" for a in ABLATIONS if a not in ORACLES | NEEDS_QA]


@pytest.mark.parametrize("name", TRAINERS)
def test_every_ablation_runs_training_steps(isolated_results, name):
    from nnunetv2.run.run_training import get_trainer_from_args

    from nnunet_svl.teacher.part import TeacherGatePart

    trainer = get_trainer_from_args(str(NOISY_ID), "3d_fullres", 0, name, NARROW, device=torch.device("cpu"))
    trainer.on_train_start()
    try:
        gate = trainer.part(TeacherGatePart)
        trainer.network.train()
        for epoch in range(trainer.num_epochs):          # tiny schedule: warm-up, transition, full RL
            trainer.current_epoch = epoch
            batch = next(trainer.dataloader_train)
            if gate is not None:
                gate.flagged = {str(batch["keys"][0])}
            loss = trainer.train_step(batch)["loss"]
            assert math.isfinite(float(loss)), (name, epoch, loss)
    finally:
        trainer.on_train_end()
