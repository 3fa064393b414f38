"""Two benchmarks on one workspace: dataset preparation (demo source, noisy copies under free dataset ids, nnU-Net
preprocessing) runs under the workspace's lock, so two invocations started at the same moment neither pick the same
dataset id nor write the same noisy copy twice."""
from __future__ import annotations

import json
import multiprocessing as mp
import time
from pathlib import Path


def _locked_marker(root: str, marker: str) -> None:
    from nnunet_svl.tools.benchmark import _workspace_lock

    with _workspace_lock(Path(root)):
        Path(marker).write_text(str(time.time()))


def _copies(root: str, seeds: list, out: str, start: float) -> None:
    from nnunet_svl.tools.benchmark import PRESETS, _noisy_copies, _workspace_lock
    from nnunet_svl.tools.pipeline import NNUNetWorkspace

    ws = NNUNetWorkspace.create(Path(root))
    src = next(ws.raw.glob("Dataset990_*"))
    while time.time() < start:                      # both processes enter at the same moment
        time.sleep(0.01)
    with _workspace_lock(ws.root):
        noisy = _noisy_copies(ws, src, PRESETS["cpu"], ["mt"], [0.5], seeds)
    Path(out).write_text(json.dumps({tag: str(folder) for tag, _, _, folder in noisy}))


def test_a_second_benchmark_waits_for_the_workspace_lock(tmp_path):
    from nnunet_svl.tools.benchmark import _workspace_lock

    marker = tmp_path / "entered"
    ctx = mp.get_context("spawn")
    with _workspace_lock(tmp_path):
        child = ctx.Process(target=_locked_marker, args=(str(tmp_path), str(marker)))
        child.start()
        time.sleep(3.0)
        assert not marker.exists()                  # the child waits while this process holds the lock
    child.join(60)
    assert child.exitcode == 0 and marker.exists()


def _locked_run_marker(root: str, step: str, marker: str) -> None:
    from nnunet_svl.tools.benchmark import _workspace_lock

    with _workspace_lock(Path(root), f".train_{step}.lock", "training"):
        Path(marker).write_text(str(time.time()))


def test_a_run_being_trained_by_another_benchmark_is_waited_for_not_resumed(tmp_path):
    """The per-run lock of run_benchmark's training loop (the eleventh session saw a re-read benchmark resume, with
    --c in a second process, a run whose first process was still writing its measure file): a second process that
    names the same run waits; one that names another run does not."""
    from nnunet_svl.tools.benchmark import _workspace_lock

    same, other = tmp_path / "same", tmp_path / "other"
    ctx = mp.get_context("spawn")
    with _workspace_lock(tmp_path, ".train_901_T_s0.lock", "training"):
        children = [ctx.Process(target=_locked_run_marker, args=(str(tmp_path), step, str(marker)))
                    for step, marker in (("901_T_s0", same), ("901_T_s1", other))]
        for c in children:
            c.start()
        children[1].join(60)
        assert children[1].exitcode == 0 and other.exists()   # another run: not blocked
        time.sleep(1.0)
        assert not same.exists()                               # the same run: waits while this process trains it
    children[0].join(60)
    assert children[0].exitcode == 0 and same.exists()


def test_simultaneous_benchmarks_get_distinct_dataset_ids(tmp_path):
    from nnunet_svl.tools.demo_data import write_demo_dataset
    from nnunet_svl.tools.pipeline import NNUNetWorkspace

    ws = NNUNetWorkspace.create(tmp_path / "ws")
    write_demo_dataset(ws.raw, dataset_id=990, n_train=4, n_test=1, shape=(16, 16, 16))
    ctx = mp.get_context("spawn")
    start = time.time() + 8.0                       # after both interpreters have started
    outs = [tmp_path / "a.json", tmp_path / "b.json"]
    procs = [ctx.Process(target=_copies, args=(str(ws.root), seeds, str(out), start))
             for seeds, out in (([0, 1], outs[0]), ([1, 2], outs[1]))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    a, b = (json.loads(o.read_text()) for o in outs)
    assert a["mt_r0.5_s1"] == b["mt_r0.5_s1"]       # the second found the first's copy of seed 1 and reused it
    folders = sorted(ws.raw.glob("Dataset9*_SVLDemo_mt_*"))
    assert len(folders) == 3                        # seeds 0, 1, 2: one copy each
    ids = [f.name.split("_")[0] for f in folders]
    assert len(set(ids)) == 3
    for f in folders:
        manifest = json.loads((f / "noise_manifest.json").read_text())
        assert f.name.endswith(f"_s{manifest['seed']}")


def test_a_cached_evaluation_counts_only_for_the_checkpoint_it_was_made_from(tmp_path):
    """A run trained again (its folder moved away, retrained) must be predicted again: its predecessor's cached
    evaluation is older than the new checkpoint (it was scored under the new run's name once, the seventh session)."""
    import os

    from nnunet_svl.tools.benchmark import evaluation_is_current

    evaluation, checkpoint = tmp_path / "svl_evaluation.json", tmp_path / "checkpoint_final.pth"
    assert not evaluation_is_current(evaluation, checkpoint)              # nothing predicted yet
    checkpoint.write_bytes(b"run 1")
    evaluation.write_text("{}")
    os.utime(checkpoint, ns=(1_000_000_000, 1_000_000_000))
    os.utime(evaluation, ns=(2_000_000_000, 2_000_000_000))
    assert evaluation_is_current(evaluation, checkpoint)                  # predicted after training: reused
    os.utime(checkpoint, ns=(3_000_000_000, 3_000_000_000))               # trained again afterwards
    assert not evaluation_is_current(evaluation, checkpoint)
