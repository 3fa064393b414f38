"""Shared fixtures: a real nnU-Net workspace with a small synthetic dataset, planned and preprocessed once per test run
by nnU-Net's own ``nnUNetv2_plan_and_preprocess``.

The suite runs on two pytest-xdist workers (pyproject ``addopts``). Workspaces are built once per run, whichever
worker needs one first, under a file lock in the run's shared temporary folder; the other worker waits and reuses it.
"""
from __future__ import annotations

import os

# Two workers each train with nnU-Net's 2 CPU threads on a 2-core machine: OpenMP's default busy-waiting then makes
# each training several times slower (measured: 2 concurrent tiny runs 149 s vs 61 s with PASSIVE). Set before
# torch is imported here; the nnU-Net subprocesses inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import pytest  # noqa: E402
from filelock import FileLock  # noqa: E402

from nnunet_svl.tools.pipeline import NNUNetWorkspace  # noqa: E402

SOURCE_ID = 980
NOISY_ID = 981
NARROW = "nnUNetPlans_narrow"
# one export / metrics worker per nnU-Net validation and prediction: each is a spawned interpreter that imports torch
TEST_ENV = {"nnUNet_def_n_proc": "1"}


def shared_workspace(tmp_path_factory, name: str, build: Callable[[NNUNetWorkspace], None]) -> NNUNetWorkspace:
    """The workspace ``name`` of this test run, built by ``build`` exactly once across xdist workers."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent          # pytest-N/popen-gwK -> pytest-N: common to the workers of this run only
    root = base / name
    with FileLock(str(root) + ".lock"):
        ready = root / ".ready"
        if not ready.exists():
            if root.exists():       # left half-built by a worker that crashed
                shutil.rmtree(root)
            build(NNUNetWorkspace.create(root, extra_env=TEST_ENV))
            ready.touch()
    return NNUNetWorkspace.create(root, extra_env=TEST_ENV)


def _build_noisy_phantoms(ws: NNUNetWorkspace) -> None:
    from nnunet_svl.tools.corrupt import corrupt_dataset
    from nnunet_svl.tools.demo_data import write_demo_dataset
    from nnunet_svl.tools.plans import write_narrow_plans

    src = write_demo_dataset(ws.raw, dataset_id=SOURCE_ID, name="TestPhantoms", n_train=6, n_test=2,
                             shape=(32, 32, 32), seed=1)
    corrupt_dataset(src, target_id=NOISY_ID, protocol="mt", ratio=0.5, seed=1, raw_root=ws.raw)
    ws.plan_and_preprocess(NOISY_ID)
    write_narrow_plans(ws.preprocessed, NOISY_ID, target_plans=NARROW)
    write_default_splits(ws.preprocessed / noisy_dataset_dir(ws).name)


def write_default_splits(preprocessed_dataset: Path) -> None:
    """The 5-fold split nnU-Net's ``do_split`` would create on the first training, made up front so that trainings
    running concurrently on two workers never race to write (and read half-written) ``splits_final.json``."""
    from batchgenerators.utilities.file_and_folder_operations import save_json
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class
    from nnunetv2.utilities.crossval_split import generate_crossval_split

    folder = str(preprocessed_dataset / "nnUNetPlans_3d_fullres")
    cases = sorted(infer_dataset_class(folder)(folder).identifiers)
    save_json(generate_crossval_split(cases, seed=12345, n_splits=5), str(preprocessed_dataset / "splits_final.json"))


# Order for the two workers. worksteal hands each worker a contiguous half of the collection and an idle worker takes
# from the end of the other's queue. So the first half starts with the runs on the main workspace, the second half
# with those on the variant datasets: both workspaces are built at once, one per worker, and the long runs start
# first; the quick unit tests fill the ends. (The other files on the variant workspace come later in either half:
# by then it is built.)
MAIN_WORKSPACE_FILES = ("test_e2e.py", "test_trainers.py")
VARIANT_WORKSPACE_FILES = ("test_configurations.py",)


def pytest_collection_modifyitems(config, items):
    first = [i for i in items if i.path.name in MAIN_WORKSPACE_FILES]
    second = [i for i in items if i.path.name in VARIANT_WORKSPACE_FILES]
    rest = [i for i in items if i.path.name not in MAIN_WORKSPACE_FILES + VARIANT_WORKSPACE_FILES]
    first.sort(key=lambda i: MAIN_WORKSPACE_FILES.index(i.path.name))   # stable: keeps order within a file
    half = max(0, len(items) // 2 - len(first))
    items[:] = first + rest[:half] + second + rest[half:]


@pytest.fixture(scope="session")
def nnunet_ws(tmp_path_factory) -> NNUNetWorkspace:
    """Workspace holding Dataset980 (clean phantoms, 32³) and Dataset981 (its mt-corrupted copy, preprocessed)."""
    return shared_workspace(tmp_path_factory, "nnunet_ws", _build_noisy_phantoms)


@pytest.fixture(scope="session")
def variants_ws(tmp_path_factory) -> NNUNetWorkspace:
    """Workspace holding every variant dataset (tests/variant_datasets.py: channels, classes, ignore, regions, thick
    slices, resampled cases, dilated phantoms), planned and preprocessed by one nnU-Net call."""
    from variant_datasets import build_variant_workspace

    return shared_workspace(tmp_path_factory, "variants_ws", build_variant_workspace)


def use_in_process(ws: NNUNetWorkspace, monkeypatch) -> NNUNetWorkspace:
    """Set ``ws``'s nnU-Net variables in this process (for trainers built in-process)."""
    for k in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results", "nnUNet_extTrainer", "nnUNet_def_n_proc"):
        monkeypatch.setenv(k, ws.env[k])
    monkeypatch.setenv("nnUNet_n_proc_DA", "0")
    monkeypatch.setenv("nnUNet_compile", "false")
    return ws


@pytest.fixture
def nnunet_env(nnunet_ws, monkeypatch):
    """The workspace's nnU-Net variables set in this process (for trainers built in-process)."""
    return use_in_process(nnunet_ws, monkeypatch)


@pytest.fixture
def isolated_results(nnunet_env, tmp_path, monkeypatch):
    """nnunet_env with this test's own nnUNet_results: trainers built in-process write their checkpoints (on_train_end
    writes checkpoint_final.pth) and label store there, not into the shared workspace where another test may train
    the same trainer and fold with --c (nnU-Net would resume from the stray checkpoint_final.pth)."""
    results = tmp_path / "results"
    results.mkdir()
    monkeypatch.setenv("nnUNet_results", str(results))   # nnU-Net 2.8.1 reads its paths from the environment lazily
    return nnunet_env


def noisy_dataset_dir(ws: NNUNetWorkspace) -> Path:
    return next(ws.raw.glob(f"Dataset{NOISY_ID:03d}_*"))
