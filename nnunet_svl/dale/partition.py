"""Fuzzy / non-fuzzy soft partition of a case's voxels (docs/METHOD.md §2.2 "Fuzzy set", the paper's "AE & ER").

The membership m ∈ [0, 1] of a voxel in the fuzzy set combines two pieces of evidence:

* AE, ambiguity of the prediction: the normalised predictive entropy H(p)/log C ∈ [0, 1];
* ER, edge region: proximity to a boundary of the current label, exp(−d²/2σ²).

They are combined by a soft OR, m = 1 − (1 − a)(1 − b), with a = sigmoid((H − threshold)/temperature) (a soft
threshold of the entropy) and b = proximity_weight·proximity: a voxel is fuzzy when either piece of evidence says so,
m is 0 only when both are 0, and m grows with each of them. Works for 2-D and 3-D arrays alike.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from scipy import ndimage
from scipy.special import entr, expit


def normalised_entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy over axis 0 of class probabilities ``probs`` (C, *spatial), divided by log C: 1 for a uniform
    distribution, 0 for a one-hot one. float32, clipped to [0, 1]."""
    probs = np.asarray(probs, dtype=np.float64)
    n_classes = probs.shape[0]
    if n_classes < 2:
        raise ValueError(f"normalised entropy needs at least 2 classes on axis 0, got shape {probs.shape}")
    entropy = entr(np.clip(probs, 0.0, 1.0)).sum(axis=0) / np.log(n_classes)
    return np.clip(entropy, 0.0, 1.0).astype(np.float32)


def label_boundary(label: np.ndarray) -> np.ndarray:
    """Boundary voxels of a label map: voxels with at least one face neighbour (4-connectivity in 2-D, 6 in 3-D) of a
    different label value. Both sides of an interface are boundary voxels. Negative values (nnU-Net's "outside the
    nonzero mask" marker −1, which its training turns into background) count as background 0."""
    lab = np.maximum(np.asarray(label), 0)
    boundary = np.zeros(lab.shape, dtype=bool)
    for axis in range(lab.ndim):
        lo = [slice(None)] * lab.ndim
        hi = [slice(None)] * lab.ndim
        lo[axis] = slice(None, -1)
        hi[axis] = slice(1, None)
        differs = lab[tuple(lo)] != lab[tuple(hi)]
        boundary[tuple(lo)] |= differs
        boundary[tuple(hi)] |= differs
    return boundary


def boundary_proximity(label: np.ndarray, sigma: float = 2.0,
                       spacing: Optional[Sequence[float]] = None) -> np.ndarray:
    """exp(−d²/2σ²) ∈ [0, 1], with d the Euclidean distance from a voxel centre to the nearest boundary voxel
    (:func:`label_boundary`; d = 0 and proximity 1 on boundary voxels; the interface itself lies half a voxel beyond
    them). d and σ are in voxels when ``spacing`` is None, else in the units of ``spacing`` (one value per axis).
    A label map without any boundary gives 0 everywhere. float32."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    label = np.asarray(label)
    if spacing is not None and len(spacing) != label.ndim:
        raise ValueError(f"spacing {tuple(spacing)} needs one value per axis of the label of shape {label.shape}")
    boundary = label_boundary(label)
    if not boundary.any():
        return np.zeros(label.shape, dtype=np.float32)
    distance = ndimage.distance_transform_edt(~boundary, sampling=spacing)
    return np.exp(-np.square(distance) / (2.0 * sigma ** 2)).astype(np.float32)


def fuzzy_membership(entropy: np.ndarray, proximity: np.ndarray, entropy_threshold: float = 0.5,
                     temperature: float = 0.1, proximity_weight: float = 1.0) -> np.ndarray:
    """Fuzzy-set membership m = 1 − (1 − a)(1 − b) ∈ [0, 1] (soft OR), a = sigmoid((entropy − threshold)/temperature),
    b = proximity_weight·proximity. float32."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0.0 <= proximity_weight <= 1.0:
        raise ValueError(f"proximity_weight must be in [0, 1], got {proximity_weight}")
    entropy = np.asarray(entropy, dtype=np.float64)
    proximity = np.asarray(proximity, dtype=np.float64)
    if entropy.shape != proximity.shape:
        raise ValueError(f"entropy {entropy.shape} and proximity {proximity.shape} must have the same shape")
    a = expit((entropy - entropy_threshold) / temperature)
    b = proximity_weight * np.clip(proximity, 0.0, 1.0)
    return np.clip(1.0 - (1.0 - a) * (1.0 - b), 0.0, 1.0).astype(np.float32)
