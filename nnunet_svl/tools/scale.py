"""Scale check of the label store (issue: "label store and statistics are on disk per case, not all in RAM").

Writes ``rounds`` label rounds of ``n_cases`` synthetic cases of ``shape`` voxels through :class:`LabelStore`, each
round reading the previous round's case back and updating DALE's loss statistics with
:func:`nnunet_svl.dale.loss_stats.update_loss_stats`, exactly as a trainer's label round does, one case at a time.
Reports the store's size on disk, the process's peak resident memory and the seconds per round.

ω, the fuzzy membership and the per-voxel loss are random values, which compress worst: the disk figure is an upper
bound for real runs (smooth maps compress better). Run: ``nnunet-svl scale-check DIR [--cases 200] [--shape 128]``.
"""
from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np

from nnunet_svl.dale.loss_stats import LossStats, update_loss_stats
from nnunet_svl.runtime.config import SVLConfig, epoch_period
from nnunet_svl.runtime.label_store import LabelStore

EPOCH_SECONDS_GRID = (30.0, 60.0, 120.0, 250.0)
"""Seconds per training epoch the projection is shown for (nnU-Net default network: tens of seconds on a GPU, ~250 s
on 2 CPU cores at a 56×48×80 patch, batch 2)."""


def project_round_share(seconds_per_round: float, epochs: int = 1000, epoch_seconds=EPOCH_SECONDS_GRID,
                        every: float = SVLConfig().correction_every) -> dict:
    """Label rounds' share of a run of ``epochs`` epochs: rounds end every :func:`epoch_period` (``every``) epochs,
    each costing ``seconds_per_round``; share = rounds' seconds / (rounds' seconds + epochs × epoch seconds)."""
    period = epoch_period(every, epochs)
    rounds = sum(1 for e in range(epochs) if (e + 1) % period == 0)
    total = rounds * seconds_per_round
    return {"epochs": epochs, "round_every_epochs": period, "rounds_per_run": rounds,
            "round_seconds_per_run": round(total, 1),
            "share_by_epoch_seconds": {str(t): round(total / (total + epochs * t), 4) for t in epoch_seconds}}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # Linux: KiB


def _synthetic_label(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    """A background volume with one ellipsoidal 'lesion' (int16, (1, *shape))."""
    grid = np.ogrid[tuple(slice(0, s) for s in shape)]
    centre = [rng.uniform(0.3, 0.7) * s for s in shape]
    radii = [rng.uniform(0.08, 0.2) * s for s in shape]
    inside = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii)) <= 1.0
    return inside.astype(np.int16)[None]


def _disk_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2 ** 20


def measure_label_store_scale(root: Path, n_cases: int = 200, shape: tuple[int, int, int] = (128, 128, 128),
                              rounds: int = 3, seed: int = 0, progress=print) -> dict:
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty; pass a new folder")
    store = LabelStore(root)
    rng = np.random.default_rng(seed)
    cases = [f"case_{i:04d}" for i in range(n_cases)]
    rss_start = _peak_rss_mb()
    per_round = []
    for r in range(1, rounds + 1):
        t0 = time.time()
        for case in cases:
            stored = store.load(case)
            label = stored.label if stored is not None else _synthetic_label(rng, shape)
            prev = store.load_stats(case)
            loss = rng.gamma(1.0, 0.3, size=shape).astype(np.float32)
            stats = update_loss_stats(LossStats.from_arrays(prev) if prev is not None else None, loss)
            omega = rng.uniform(0.2, 3.0, size=(1, *shape)).astype(np.float32)
            fuzzy = rng.uniform(0.0, 1.0, size=(1, *shape)).astype(np.float32)
            store.stage_case(r, case, label, omega=omega, fuzzy=fuzzy, stats=stats.to_arrays())
        store.commit_round(r, cases, {"kind": "scale_check"})
        per_round.append({"round": r, "seconds": round(time.time() - t0, 1), "disk_mb": round(_disk_mb(root), 1),
                          "peak_rss_mb": round(_peak_rss_mb(), 1)})
        progress(f"round {r}: {per_round[-1]}")
    voxels = int(np.prod(shape))
    return {"n_cases": n_cases, "shape": list(shape), "rounds": rounds,
            "one_case_in_ram_mb": round(voxels * (2 + 4 + 4 + 4 + 4 + 2) / 2 ** 20, 1),
            "peak_rss_mb_at_start": round(rss_start, 1), "per_round": per_round,
            "disk_mb_final": per_round[-1]["disk_mb"],
            # the store I/O of a round only: its whole-case inference (one forward pass per patch under the teacher
            # gate) comes on top, about what nnU-Net's own final validation costs per case
            "projection_store_io": project_round_share(max(r["seconds"] for r in per_round)),
            "disk_mb_per_case_final": round(per_round[-1]["disk_mb"] / n_cases, 2)}
