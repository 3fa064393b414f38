"""Anisotropic data (thick slices: 3 × 0.8 × 0.8 mm): nnU-Net switches on dummy-2D augmentation, whose
Convert3DTo2DTransform folds the channel axis into the slices. DALE's weight channels (ω, fuzzy membership) must still
travel as weights, aligned with the label after augmentation, and every method trainer must train on such data."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from conftest import use_in_process
from variant_datasets import ANISO_ID, NARROW


@pytest.fixture(scope="module")
def aniso_env(variants_ws):
    """Dataset988 (5 training cases of 10 × 40 × 40 voxels at 0.8 × 0.8 × 3.0 mm, two of them with 4.5 mm slices;
    tests/variant_datasets.py, shared with the audit's separate-z test)."""
    return variants_ws


@pytest.fixture
def env(aniso_env, monkeypatch):
    return use_in_process(aniso_env, monkeypatch)


def _trainer(name: str, fold: int):
    from nnunetv2.run.run_training import get_trainer_from_args

    return get_trainer_from_args(str(ANISO_ID), "3d_fullres", fold, name, NARROW, device=torch.device("cpu"))


def test_weight_channels_follow_the_label_under_dummy_2d_augmentation(env, monkeypatch):
    from nnunet_svl.trainers.data import WeightChannelSpatialTransform

    rows = []        # how many folded rows go through the weight (linear) path
    original = WeightChannelSpatialTransform._apply_to_regr_target
    monkeypatch.setattr(WeightChannelSpatialTransform, "_apply_to_regr_target",
                        lambda self, t, **p: rows.append(t.shape[0]) or original(self, t, **p))
    trainer = _trainer("nnUNetTrainerSVLDRL_tiny", 0)
    trainer.on_train_start()
    try:
        assert trainer.configure_rotation_dummyDA_mirroring_and_inital_patch_size()[1], "dummy 2D must be on"
        # store ω = 1.5 + label (2.5 on the lesion, 1.5 elsewhere) and m = 0.5 for every training case; padding (outside
        # the image after cropping / rotation) decodes to the neutral ω = 1, m = 0, so ω > 1.25 marks image voxels
        cases = trainer.training_case_ids()
        for case in cases:
            _, seg, _, _ = trainer.dataset_class(trainer.preprocessed_dataset_folder, [case]).load_case(case)
            label = np.asarray(seg[:]).astype(np.int16)
            omega = np.where(label > 0, 2.5, 1.5).astype(np.float32)
            trainer.label_store.stage_case(2, case, label, omega=omega, fuzzy=np.full(label.shape, 0.5, np.float32))
        trainer.label_store.commit_round(2, cases)
        agree, total, fuzzy_ok = 0, 0, []
        for _ in range(6):
            batch = next(trainer.dataloader_train)
            labels, omega, fuzzy = trainer.split_target(batch["target"])
            lab, om, fz = labels[0][:, 0], omega[0][:, 0], fuzzy[0][:, 0]
            for b in range(lab.shape[0]):
                image = ndimage.binary_erosion(om[b].numpy() > 1.25, iterations=2)
                fg = ndimage.binary_erosion(lab[b].numpy() == 1, iterations=1) & image
                bg = ndimage.binary_erosion(lab[b].numpy() == 0, iterations=2) & image
                agree += int((om[b].numpy()[fg] > 2.0).sum() + (np.abs(om[b].numpy()[bg] - 1.5) < 0.25).sum())
                total += int(fg.sum() + bg.sum())
                inside = bg | fg
                if not inside.any():
                    continue
                fuzzy_ok.append(float(np.mean(np.abs(fz[b].numpy()[inside] - 0.5) < 0.05)))
        # both weight channels, every slice of them, take the weight path (before: only the last two slices of the
        # fuzzy channel did; ω went through the label path, one grid_sample per distinct value)
        assert rows and all(r > 2 and r % 2 == 0 for r in rows), rows
        assert total > 0 and agree / total > 0.97, agree / total
        assert np.mean(fuzzy_ok) > 0.9, fuzzy_ok
    finally:
        trainer.on_train_end()


@pytest.mark.parametrize("name", ["nnUNetTrainerSVLDRL_tiny", "nnUNetTrainerVA3C_tiny", "nnUNetTrainerDALE_tiny"])
def test_method_trainers_train_on_thick_slices(env, name):
    from nnunet_svl.teacher.part import TeacherGatePart

    trainer = _trainer(name, 1)
    trainer.on_train_start()
    try:
        gate = trainer.part(TeacherGatePart)
        for epoch in range(trainer.num_epochs):
            trainer.current_epoch = epoch
            batch = next(trainer.dataloader_train)
            gate.flagged = {str(batch["keys"][0])}
            assert math.isfinite(float(trainer.train_step(batch)["loss"]))
        trainer.current_epoch = trainer.num_epochs - 1
        round_summary = trainer.run_label_round()           # a label round on the anisotropic cases
        assert round_summary is not None
    finally:
        trainer.on_train_end()
