"""Overlap and surface metrics of one binary mask against a reference: Dice, IoU, HD95, ASSD (docs/METHOD.md §1.1,
"Evaluation": the papers report Dice, IoU, HD95 and ASD).

Distances are in the units of ``spacing`` (mm for medical images) and are computed on the voxel-corner surfaces of
DeepMind's ``surface_distance`` package, so they are spacing-aware and work in 2-D and 3-D (``len(spacing) ==
mask.ndim``).

- HD95: the symmetric 95th-percentile Hausdorff distance, max of the two directed 95th percentiles (surface-area
  weighted), ``surface_distance.compute_robust_hausdorff(…, 95)``.
- ASSD: the average symmetric surface distance, the mean of the two directed average surface distances
  (surface-area weighted), from ``surface_distance.compute_average_surface_distance``.

Empty masks (:data:`EMPTY_MASK_CONVENTIONS`): both empty → Dice 1, IoU 1, HD95 0, ASSD 0; exactly one empty →
Dice 0, IoU 0, HD95 and ASSD NaN (undefined: excluded from means and counted as ``n_undefined``).
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
import surface_distance

EMPTY_MASK_CONVENTIONS = (
    "both prediction and reference empty: Dice 1, IoU 1, HD95 0, ASSD 0; exactly one empty: Dice 0, IoU 0, "
    "HD95 and ASSD undefined (NaN/null, excluded from means, counted in n_undefined)"
)
METRIC_NAMES = ("dice", "iou", "hd95", "assd")


def _check_masks(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float] | None = None) -> None:
    for name, mask in (("pred", pred), ("ref", ref)):
        if not isinstance(mask, np.ndarray) or mask.dtype != bool:
            raise TypeError(f"{name} must be a bool numpy array, got {type(mask).__name__} "
                            f"{getattr(mask, 'dtype', '')}")
    if pred.shape != ref.shape:
        raise ValueError(f"pred and ref shapes differ: {pred.shape} vs {ref.shape}")
    if spacing is not None:
        if pred.ndim not in (2, 3):
            raise ValueError(f"surface distances need 2-D or 3-D masks, got {pred.ndim}-D")
        if len(spacing) != pred.ndim:
            raise ValueError(f"spacing {tuple(spacing)} has {len(spacing)} entries for {pred.ndim}-D masks")


def dice(pred: np.ndarray, ref: np.ndarray) -> float:
    """2|P∩R| / (|P|+|R|); 1 when both are empty."""
    _check_masks(pred, ref)
    total = np.count_nonzero(pred) + np.count_nonzero(ref)
    if total == 0:
        return 1.0
    return float(2.0 * np.count_nonzero(pred & ref) / total)


def iou(pred: np.ndarray, ref: np.ndarray) -> float:
    """|P∩R| / |P∪R|; 1 when both are empty."""
    _check_masks(pred, ref)
    union = np.count_nonzero(pred | ref)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(pred & ref) / union)


def _surface_distances(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float]) -> dict[str, np.ndarray]:
    """``surface_distance.compute_surface_distances`` for two non-empty masks.

    The package still calls ``scipy.ndimage.filters``/``.morphology`` (deprecated namespaces, gone in SciPy 2.0) and
    uses ``np.Inf`` (removed in NumPy 2) on empty masks; callers therefore never pass an empty mask, and the
    deprecation warnings of this one call are silenced.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*scipy.ndimage.*namespace")
        return surface_distance.compute_surface_distances(ref, pred, [float(s) for s in spacing])


def _empty_case_distance(pred: np.ndarray, ref: np.ndarray) -> float | None:
    """The conventional distance when a mask is empty (0 if both, NaN if one), None when both have foreground."""
    pred_any, ref_any = bool(pred.any()), bool(ref.any())
    if pred_any and ref_any:
        return None
    return 0.0 if pred_any == ref_any else math.nan


def _hd95_from(distances: dict[str, np.ndarray]) -> float:
    return float(surface_distance.compute_robust_hausdorff(distances, 95))


def _assd_from(distances: dict[str, np.ndarray]) -> float:
    ref_to_pred, pred_to_ref = surface_distance.compute_average_surface_distance(distances)
    return float((ref_to_pred + pred_to_ref) / 2.0)


def hd95(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float]) -> float:
    """Symmetric 95th-percentile Hausdorff distance in the units of ``spacing``; 0 / NaN for empty masks."""
    _check_masks(pred, ref, spacing)
    conventional = _empty_case_distance(pred, ref)
    if conventional is not None:
        return conventional
    return _hd95_from(_surface_distances(pred, ref, spacing))


def assd(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float]) -> float:
    """Average symmetric surface distance in the units of ``spacing``; 0 / NaN for empty masks."""
    _check_masks(pred, ref, spacing)
    conventional = _empty_case_distance(pred, ref)
    if conventional is not None:
        return conventional
    return _assd_from(_surface_distances(pred, ref, spacing))


def binary_metrics(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float]) -> dict[str, float]:
    """{"dice", "iou", "hd95", "assd"} of ``pred`` against ``ref``; surface distances are computed once."""
    _check_masks(pred, ref, spacing)
    result = {"dice": dice(pred, ref), "iou": iou(pred, ref)}
    conventional = _empty_case_distance(pred, ref)
    if conventional is not None:
        result["hd95"] = result["assd"] = conventional
    else:
        distances = _surface_distances(pred, ref, spacing)
        result["hd95"] = _hd95_from(distances)
        result["assd"] = _assd_from(distances)
    return result
