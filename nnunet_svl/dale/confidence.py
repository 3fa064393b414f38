"""Label confidence ω* (docs/METHOD.md §2.2 "Label confidence").

Per case, with z_i = loss mean_i + κ·loss std_i ("loss level + inconsistency" of voxel i's label across rounds),

    ω* = argmin_{ω ∈ simplex} Σ_i ω_i z_i + (1/η) Σ_i ω_i log ω_i   =   softmax(−η z),

the entropy-regularised minimiser (Lagrange: z_i + (1/η)(log ω_i + 1) + λ = 0 ⇒ ω_i ∝ exp(−η z_i)). It is rescaled
by N (the number of valid voxels) to mean 1, so a voxel of average loss keeps a weight near 1 and a persistently
contradicted label (high, inconsistent loss) gets a small one. η → 0 gives ω = 1 everywhere (plain nnU-Net).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from scipy.special import xlogy


def label_confidence(loss_mean: np.ndarray, loss_std: np.ndarray, eta: float, kappa: float = 1.0,
                     valid_mask: Optional[np.ndarray] = None,
                     clip: tuple[float, Optional[float]] = (0.0, None)) -> np.ndarray:
    """ω = N·softmax(−η (loss_mean + κ·loss_std)) over the valid voxels (mean 1 there), then clipped to
    ``clip = (low, high)`` (``high`` None: no upper bound; clipping may move the mean off 1). Voxels outside
    ``valid_mask`` get ω = 1. Computed in float64 with the max subtracted; returns float32 shaped like ``loss_mean``."""
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    mean = np.asarray(loss_mean, dtype=np.float64)
    spread = np.asarray(loss_std, dtype=np.float64)
    if mean.shape != spread.shape:
        raise ValueError(f"loss_mean {mean.shape} and loss_std {spread.shape} must have the same shape")
    valid = np.ones(mean.shape, dtype=bool) if valid_mask is None else np.asarray(valid_mask, dtype=bool)
    if valid.shape != mean.shape:
        raise ValueError(f"valid_mask {valid.shape} must have the shape of loss_mean {mean.shape}")
    omega = np.ones(mean.shape, dtype=np.float64)
    n = int(valid.sum())
    if n > 0:
        logits = -eta * (mean[valid] + kappa * spread[valid])
        e = np.exp(logits - logits.max())
        omega[valid] = n * e / e.sum()
    low, high = clip
    return np.clip(omega, low, high).astype(np.float32)


def confidence_terms(loss_mean: np.ndarray, loss_std: np.ndarray, eta: float, kappa: float = 1.0) -> np.ndarray:
    """exp(−η (loss_mean + κ·loss_std)) in float64: the unnormalised ω* (z ≥ 0 for a cross-entropy history, so the
    terms lie in (0, 1] and need no max subtraction)."""
    return np.exp(-eta * (np.asarray(loss_mean, np.float64) + kappa * np.asarray(loss_std, np.float64)))


def label_confidence_across_cases(loss_mean: np.ndarray, loss_std: np.ndarray, eta: float, kappa: float,
                                  normaliser: float, valid_mask: np.ndarray,
                                  clip: tuple[float, Optional[float]] = (0.0, None)) -> np.ndarray:
    """ω normalised across cases [ours, ablation ``omega_normalisation='global'``]: the softmax's normaliser is the mean
    of :func:`confidence_terms` over the voxels of this label class in *all* training cases (from the previous label
    round), not in this case alone, so a case whose labels are contradicted more than others' keeps ω < 1 on average
    (a per-case signal that the per-case rescaling to mean 1 removes). Voxels outside ``valid_mask`` get 1."""
    if normaliser <= 0 or not np.isfinite(normaliser):
        raise ValueError(f"normaliser must be a positive number, got {normaliser}")
    terms = confidence_terms(loss_mean, loss_std, eta, kappa)
    omega = np.where(np.asarray(valid_mask, bool), terms / normaliser, 1.0)
    low, high = clip
    return np.clip(omega, low, high).astype(np.float32)


def regularised_objective(w: np.ndarray, z: np.ndarray, eta: float) -> float:
    """Σ w_i z_i + (1/η) Σ w_i log w_i (with 0·log 0 = 0): the objective ω*/N minimises over the simplex."""
    w = np.asarray(w, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    return float(np.sum(w * z) + np.sum(xlogy(w, w)) / eta)
