"""Per-voxel loss history across label rounds (docs/METHOD.md §2.2 "Voxel loss history").

Each label round gives, for every voxel of a training case, the loss of the label currently in force. DALE keeps a
running mean and the *population* variance (divide by n, not n − 1) of that sequence per voxel with Welford's update,
so no round's loss map has to be kept. ω (``confidence.py``) is computed from the mean ("loss level") and the standard
deviation ("inconsistency").

Precision: the update is computed in float32 and the state is stored as float16 (11 significant bits: relative
rounding error ≤ 2⁻¹¹ ≈ 4.9e-4 per stored value, i.e. ≤ 0.007 absolute for a cross-entropy of 13.8 = −ln 1e-6, the
largest loss of a clipped probability). The variance is stored rather than Welford's sum of squares M2 = n·var,
because M2 grows with the round count and would overflow float16 (max 65504). ``count`` is uint16 and saturates at
65535; from then on the update weighs the newest loss by 1/65535. Stored values are clipped to float16's finite
range (±65504), so an outlier loss cannot turn into inf.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np

from nnunet_svl.runtime.errors import SVLInputError

STATS_KEYS = ("mean", "var", "count")
MAX_COUNT = int(np.iinfo(np.uint16).max)
FLOAT16_MAX = float(np.finfo(np.float16).max)


@dataclass(frozen=True)
class LossStats:
    """Running per-voxel loss statistics of one case: ``mean`` and population ``var`` (float16), ``count`` (uint16),
    all shaped like the case."""

    mean: np.ndarray
    var: np.ndarray
    count: np.ndarray

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays to save in an npz (keys ``mean``, ``var``, ``count``)."""
        return {"mean": self.mean, "var": self.var, "count": self.count}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray],
                    source: Union[str, Path, None] = None) -> "LossStats":
        """Rebuild from :meth:`to_arrays` output (e.g. a loaded npz); ``source`` names the file in error messages."""
        missing = [k for k in STATS_KEYS if k not in arrays]
        if missing:
            raise SVLInputError(source, f"DALE loss statistics lack the arrays {missing}",
                                "delete this stats file (its history restarts at the next label round)")
        mean, var, count = (np.asarray(arrays[k]) for k in STATS_KEYS)
        if not mean.shape == var.shape == count.shape:
            raise SVLInputError(source, f"DALE loss statistics have mismatched shapes mean {mean.shape}, "
                                        f"var {var.shape}, count {count.shape}",
                                "delete this stats file (its history restarts at the next label round)")
        return cls(mean=mean.astype(np.float16), var=var.astype(np.float16), count=count.astype(np.uint16))


def _stored(mean: np.ndarray, var: np.ndarray, count: np.ndarray) -> LossStats:
    """float32 state → stored dtypes, clipped to float16's finite range (no inf from an outlier loss)."""
    return LossStats(mean=np.clip(mean, -FLOAT16_MAX, FLOAT16_MAX).astype(np.float16),
                     var=np.clip(var, 0.0, FLOAT16_MAX).astype(np.float16),
                     count=count.astype(np.uint16))


def update_loss_stats(stats: Optional[LossStats], loss: np.ndarray) -> LossStats:
    """Add one round's per-voxel ``loss`` (Welford). First call (``stats`` None): mean = loss, var = 0, count = 1."""
    loss = np.asarray(loss, dtype=np.float32)
    if stats is None:
        return _stored(loss, np.zeros_like(loss), np.ones(loss.shape, dtype=np.uint16))
    if stats.mean.shape != loss.shape:
        raise ValueError(f"loss map of shape {loss.shape} does not match the loss statistics' shape {stats.mean.shape}")
    n_old = stats.count.astype(np.float32)
    n = np.minimum(n_old + 1, MAX_COUNT)
    mean_old = stats.mean.astype(np.float32)
    delta = loss - mean_old
    mean = mean_old + delta / n
    # M2' = M2 + δ·(x − mean'), with M2 = n_old·var (population variance); a saturated count keeps n' = n_old
    m2 = np.minimum(n_old, n - 1) * stats.var.astype(np.float32) + delta * (loss - mean)
    return _stored(mean, m2 / n, n)


def reset_voxels(stats: LossStats, mask: np.ndarray, loss: np.ndarray) -> LossStats:
    """Restart the history of the voxels in ``mask`` (e.g. whose label was just changed) at the new ``loss``:
    mean = loss, var = 0, count = 1 there; other voxels are unchanged. Returns a new object."""
    mask = np.asarray(mask, dtype=bool)
    loss = np.asarray(loss, dtype=np.float32)
    if not mask.shape == loss.shape == stats.mean.shape:
        raise ValueError(f"mask {mask.shape} and loss {loss.shape} must match the statistics' shape "
                         f"{stats.mean.shape}")
    return _stored(np.where(mask, loss, stats.mean.astype(np.float32)),
                   np.where(mask, 0.0, stats.var.astype(np.float32)),
                   np.where(mask, 1, stats.count))


def std(stats: LossStats) -> np.ndarray:
    """Per-voxel standard deviation of the loss history (population), float32."""
    return np.sqrt(stats.var.astype(np.float32))
