"""Live progress of a training step: `nnunet-svl demo` and `benchmark` print epoch i/N with a bar and an ETA while
nnU-Net trains (its output goes to the step's log)."""
from __future__ import annotations

import io
import sys

import pytest

from nnunet_svl.tools.pipeline import EpochProgress, NNUNetWorkspace, StepFailed


def test_epoch_progress_lines_hand_checked(tmp_path):
    log = tmp_path / "train.log"
    out = io.StringIO()
    now = [100.0]
    progress = EpochProgress("train_x", 10, out=out, clock=lambda: now[0], width=10)
    log.write_text("2026-11-30 07:52:16.204432: Epoch 0\n2026-11-30 07:52:23.368845: Epoch time: 7.16 s\n"
                   "2026-11-30 07:52:23.5: Epo")              # half a line: read next time
    progress.poll(log)
    now[0] = 130.0                                            # epochs 1-3 all seen at t = 130: epoch k → 30 s / k × (10 − k) left
    with open(log, "a") as f:
        f.write("ch 1\n2026-11-30 07:52:30.1: Epoch 2\n2026-11-30 07:52:40.1: Epoch 3\n")
    progress.poll(log)
    progress.poll(log)                                        # nothing new: nothing printed
    assert out.getvalue().splitlines() == [
        "  train_x: epoch 1/10 [----------]",
        "  train_x: epoch 2/10 [#---------] ETA 4:30",
        "  train_x: epoch 3/10 [##--------] ETA 2:00",
        "  train_x: epoch 4/10 [###-------] ETA 1:10",
    ]
    assert EpochProgress("y", None).line(4, 0.0) == "  y: epoch 5"


def test_workspace_run_prints_progress_while_the_step_runs(tmp_path, capsys):
    ws = NNUNetWorkspace.create(tmp_path / "ws")
    script = ("import time\nfor e in range(3):\n    print(f'2026-01-01 00:00:00.0: Epoch {e}', flush=True)\n"
              "    time.sleep(0.6)\n")
    ws.run("train_fake", [sys.executable, "-c", script], progress_epochs=3)
    err = capsys.readouterr().err.splitlines()
    assert [line.split(" [")[0] for line in err] == [f"  train_fake: epoch {i}/3" for i in (1, 2, 3)]
    assert "Epoch 2" in (ws.log_dir / "train_fake.log").read_text()


def test_verbose_streams_the_step_to_the_console_and_keeps_it_in_the_log(tmp_path, capsys):
    """``--verbose`` (a workspace that is not quiet): the step's own output on the console, no progress lines, and the
    same output in ``logs/<step>.log`` as in quiet mode (README: "it is always in WORKSPACE/logs")."""
    ws = NNUNetWorkspace.create(tmp_path / "ws", quiet=False)
    script = ("import sys\nfor e in range(3):\n    print(f'2026-01-01 00:00:00.0: Epoch {e}', flush=True)\n"
              "print('warning from stderr', file=sys.stderr, flush=True)\n")
    ws.run("train_fake", [sys.executable, "-c", script], progress_epochs=3)
    out, err = capsys.readouterr()
    assert [f"2026-01-01 00:00:00.0: Epoch {e}" for e in range(3)] == out.splitlines()[:3]
    assert "warning from stderr" in out and "train_fake: epoch" not in err
    log = (ws.log_dir / "train_fake.log").read_text()
    assert "Epoch 2" in log and "warning from stderr" in log
    with pytest.raises(StepFailed) as failed:
        ws.run("fails", [sys.executable, "-c", "print('the reason', flush=True); raise SystemExit(3)"])
    assert "fails failed (exit 3)" in str(failed.value) and "the reason" in (ws.log_dir / "fails.log").read_text()
