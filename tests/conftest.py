"""Shared fixtures: a real nnU-Net workspace with a small synthetic dataset, planned and preprocessed once per session
by nnU-Net's own ``nnUNetv2_plan_and_preprocess``."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from nnunet_svl.pipeline import NNUNetWorkspace

SOURCE_ID = 980
NOISY_ID = 981
NARROW = "nnUNetPlans_narrow"


@pytest.fixture(scope="session")
def nnunet_ws(tmp_path_factory) -> NNUNetWorkspace:
    """Workspace holding Dataset980 (clean phantoms, 32³) and Dataset981 (its mt-corrupted copy, preprocessed)."""
    from nnunet_svl.corrupt import corrupt_dataset
    from nnunet_svl.demo_data import write_demo_dataset
    from nnunet_svl.plans import write_narrow_plans

    ws = NNUNetWorkspace.create(tmp_path_factory.mktemp("nnunet_ws"))
    src = write_demo_dataset(ws.raw, dataset_id=SOURCE_ID, name="TestPhantoms", n_train=6, n_test=2,
                             shape=(32, 32, 32), seed=1)
    corrupt_dataset(src, target_id=NOISY_ID, protocol="mt", ratio=0.5, seed=1, raw_root=ws.raw)
    ws.plan_and_preprocess(NOISY_ID)
    write_narrow_plans(ws.preprocessed, NOISY_ID, target_plans=NARROW)
    return ws


@pytest.fixture
def nnunet_env(nnunet_ws, monkeypatch):
    """The workspace's nnU-Net variables set in this process (for trainers built in-process)."""
    for k in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results", "nnUNet_extTrainer"):
        monkeypatch.setenv(k, nnunet_ws.env[k])
    monkeypatch.setenv("nnUNet_n_proc_DA", "0")
    monkeypatch.setenv("nnUNet_compile", "false")
    return nnunet_ws


def noisy_dataset_dir(ws: NNUNetWorkspace) -> Path:
    return next(ws.raw.glob(f"Dataset{NOISY_ID:03d}_*"))
