"""Class-conditional distribution alignment of fuzzy to stable features (docs/METHOD.md §2.2 "Alignment").

For each class c, the decoder features of the batch's voxels of class c form two soft sets: the fuzzy side, voxel
weight m (fuzzy membership), and the stable side, weight 1 − m. Each side is summarised by a diagonal Gaussian
(weighted per-channel mean and variance) and the two are compared with the closed-form 2-Wasserstein distance. The
stable side is detached, so the loss pulls the fuzzy representation towards the stable one and never the reverse.

Everything is computed in float32 with autocast disabled, and without host synchronisation: classes with too little
weight are masked out arithmetically rather than skipped with a Python branch.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

VARIANCE_FLOOR = 1e-8
"""Variances are floored here before the square root, so the gradient stays finite for constant features."""


def diag_gaussian_w2_squared(mu1: torch.Tensor, var1: torch.Tensor, mu2: torch.Tensor,
                             var2: torch.Tensor) -> torch.Tensor:
    """W2²(N(μ1, diag σ1²), N(μ2, diag σ2²)) = ||μ1 − μ2||² + ||σ1 − σ2||², summed over the last axis."""
    sd1 = var1.clamp_min(VARIANCE_FLOOR).sqrt()
    sd2 = var2.clamp_min(VARIANCE_FLOOR).sqrt()
    return (mu1 - mu2).square().sum(-1) + (sd1 - sd2).square().sum(-1)


def _weighted_moments(features: torch.Tensor, features_sq: torch.Tensor,
                      weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per class k: total weight (K,), weighted mean and variance (K, F) of features (B, F, N) under weights
    (B, K, N). Variance = E[f²] − E[f]² (one pass, clamped at 0)."""
    total = weights.sum(dim=(0, 2))
    denom = total.clamp_min(1e-6)[:, None]
    mean = torch.einsum("bfn,bkn->kf", features, weights) / denom
    second = torch.einsum("bfn,bkn->kf", features_sq, weights) / denom
    return total, mean, (second - mean.square()).clamp_min(0.0)


def class_conditional_alignment_loss(features: torch.Tensor, labels: torch.Tensor, fuzzy: torch.Tensor,
                                     classes: Sequence[int], min_weight: float = 8.0,
                                     valid_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean over used classes of W2²(fuzzy-side Gaussian, stable-side Gaussian (detached)) of the features.

    features (B, F, *sp); labels (B, *sp) integer; fuzzy (B, *sp) membership in [0, 1]; valid_mask (B, *sp) bool,
    optional. Side weights: m·[label = c]·valid and (1 − m)·[label = c]·valid. A class is used only when both sides
    carry a total weight ≥ ``min_weight`` (in voxels). Returns a float32 scalar; 0 (still attached to the graph of
    ``features``) when no class is used.
    """
    if features.ndim != labels.ndim + 1 or features.shape[0] != labels.shape[0] \
            or features.shape[2:] != labels.shape[1:]:
        raise ValueError(f"features (B, F, *sp) {tuple(features.shape)} and labels (B, *sp) {tuple(labels.shape)} "
                         "must share batch size and spatial shape")
    if fuzzy.shape != labels.shape:
        raise ValueError(f"fuzzy {tuple(fuzzy.shape)} must have the shape of labels {tuple(labels.shape)}")
    if valid_mask is not None and valid_mask.shape != labels.shape:
        raise ValueError(f"valid_mask {tuple(valid_mask.shape)} must have the shape of labels {tuple(labels.shape)}")
    if len(classes) == 0:
        raise ValueError("classes must name at least one class")
    with torch.autocast(device_type=features.device.type, enabled=False):
        b, f = features.shape[:2]
        feats = features.float().reshape(b, f, -1)
        lab = labels.reshape(b, 1, -1)
        m = fuzzy.float().reshape(b, 1, -1).clamp(0.0, 1.0)
        # one comparison per class with a Python scalar: a tensor of the class ids would be a host-to-device copy
        members = torch.cat([(lab == int(c)) for c in classes], dim=1).float()  # (B, K, N)
        if valid_mask is not None:
            members = members * valid_mask.reshape(b, 1, -1).float()
        feats_sq = feats.square()
        n_fuzzy, mu_fuzzy, var_fuzzy = _weighted_moments(feats, feats_sq, members * m)
        with torch.no_grad():
            n_stable, mu_stable, var_stable = _weighted_moments(feats, feats_sq, members * (1.0 - m))
        used = ((n_fuzzy >= min_weight) & (n_stable >= min_weight)).float()
        w2 = diag_gaussian_w2_squared(mu_fuzzy, var_fuzzy, mu_stable, var_stable)
        return (w2 * used).sum() / used.sum().clamp_min(1.0)


def standardise_features(features: torch.Tensor) -> torch.Tensor:
    """(B, F, *sp) → zero mean, unit variance per channel over the batch's voxels (statistics detached) [ours]: the
    W2 distance of raw decoder features grows with their scale, which the network could otherwise game."""
    dims = [0] + list(range(2, features.ndim))
    mean = features.mean(dim=dims, keepdim=True).detach()
    std = features.std(dim=dims, keepdim=True).detach().clamp_min(1e-5)
    return (features - mean) / std
