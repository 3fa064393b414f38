"""Per-epoch seconds and peak RSS of a run_timing.sh folder: the one reader of its trainers' epoch times (#15).

    python benchmarks/overhead/epoch_times.py OUT PLANS TRAINER [TRAINER ...]    -> OUT/timing.json (run_timing.sh)

Epoch durations are nnU-Net's own epoch timestamps in each trainer's ``checkpoint_final.pth``; peak RSS comes from
``nnunet_svl.tools.measure``'s ``measure_<trainer>.json``. The first trainer named is the baseline of the ratios.
``epoch_ratio.py`` reads the epochs through :func:`epoch_seconds` too."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from nnunet_svl.tools.benchmark import epoch_durations


def training_logging(out: Path, trainer: str, plans: str) -> dict:
    """nnU-Net's ``logging`` dict of ``trainer``'s fold_all run under ``out/results/<dataset>/``."""
    ck = next(Path(out, "results").glob(f"*/{trainer}__{plans}__3d_fullres/fold_all/checkpoint_final.pth"))
    return torch.load(ck, map_location="cpu", weights_only=False)["logging"]


def epoch_seconds(logging: dict) -> np.ndarray:
    """Each epoch's seconds (the benchmark's :func:`nnunet_svl.tools.benchmark.epoch_durations`), as an array."""
    return np.array(epoch_durations(logging))


def timing_rows(out: Path, plans: str, trainers: list[str]) -> dict:
    """timing.json's rows: s/epoch (mean, median), training seconds, peak RSS, and both ratios to the first trainer."""
    rows = {}
    for tr in trainers:
        lg = training_logging(out, tr, plans)
        ep = epoch_seconds(lg)
        m = json.loads(Path(out, f"measure_{tr}.json").read_text())
        rows[tr] = {"s_per_epoch": float(ep.mean()),
                    "train_s": float(lg["epoch_end_timestamps"][-1] - lg["epoch_start_timestamps"][0]),
                    "s_per_epoch_median": float(np.median(ep)), "epochs": len(ep),
                    "peak_rss_mb": m["peak_rss_mb"], "wall_s": m.get("seconds")}
    base = rows[trainers[0]]
    for r in rows.values():
        r["time_ratio"] = r["s_per_epoch"] / base["s_per_epoch"]
        r["rss_ratio"] = r["peak_rss_mb"] / base["peak_rss_mb"]
    return rows


if __name__ == "__main__":
    out_dir = Path(sys.argv[1])
    table = timing_rows(out_dir, sys.argv[2], sys.argv[3:])
    (out_dir / "timing.json").write_text(json.dumps(table, indent=1))
    print(json.dumps(table, indent=1))
