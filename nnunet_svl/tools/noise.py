"""Label-noise simulators for the benchmark (docs/METHOD.md §4). Pure numpy / scipy.ndimage, 2-D or 3-D.

Every protocol acts on the binary mask of ONE foreground class and draws its randomness from a
``numpy.random.Generator``; it returns ``(noisy_mask, info)`` where ``info`` is a JSON-serialisable record of the
random choices (operation, side / distance, ...). :func:`corrupt_label` applies a protocol per class of a label map.

Conventions (where the papers are silent, **[ours]**):

- Distances and structuring elements are in voxels, not mm (MTCL and Spatial Correction work in voxels).
- The edge of the field of view is not a boundary of the object: erosion does not eat into a mask from the image
  border (``mode="nearest"``; the EDT only measures distances to background voxels inside the image).
- Cubic structuring elements have odd sides so they are centred on the voxel. ``dilate``/``erode`` reject even
  sides; ``mt_noise`` draws the side uniformly from the ODD integers of ``side_range`` (3, 5, ..., 15 for the
  default (3, 15)), which is what MTCL's symmetric kernels amount to in practice.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
from scipy import ndimage

NoiseResult = tuple[np.ndarray, dict]


def _check_mask(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim not in (2, 3):
        raise ValueError(f"masks must be 2-D or 3-D, got shape {mask.shape}")
    return mask.astype(bool, copy=False)


def _check_side(side: int) -> int:
    if int(side) != side or side < 1 or side % 2 == 0:
        raise ValueError(f"structuring-element side must be an odd positive integer, got {side!r}")
    return int(side)


def _check_probability(name: str, p: float) -> float:
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {p!r}")
    return float(p)


def dilate(mask: np.ndarray, side: int) -> np.ndarray:
    """Binary dilation with a cube (square in 2-D) of odd ``side`` voxels (docs/METHOD.md §4, MT)."""
    return ndimage.maximum_filter(_check_mask(mask), size=_check_side(side), mode="nearest")


def erode(mask: np.ndarray, side: int) -> np.ndarray:
    """Binary erosion with a cube (square in 2-D) of odd ``side`` voxels; the image border does not erode."""
    return ndimage.minimum_filter(_check_mask(mask), size=_check_side(side), mode="nearest")


def _draw_odd_side(rng: np.random.Generator, side_range: Sequence[int]) -> int:
    lo, hi = (int(v) for v in side_range)
    odd = [s for s in range(max(lo, 1), hi + 1) if s % 2 == 1]
    if not odd:
        raise ValueError(f"side_range {tuple(side_range)} contains no odd side length")
    return int(odd[rng.integers(len(odd))])


def mt_noise(mask: np.ndarray, rng: np.random.Generator, side_range: Sequence[int] = (3, 15),
             p_dilate: float = 0.5) -> NoiseResult:
    """MT / MTCL noise: dilate (prob ``p_dilate``) or erode with a cube of odd side ~ U{side_range} (§4)."""
    p_dilate = _check_probability("p_dilate", p_dilate)
    side = _draw_odd_side(rng, side_range)
    if rng.random() < p_dilate:
        return dilate(mask, side), {"operation": "dilate", "side": side}
    return erode(mask, side), {"operation": "erode", "side": side}


def all_dilate(mask: np.ndarray, rng: np.random.Generator, side_range: Sequence[int] = (3, 15)) -> NoiseResult:
    """Biased protocol: always dilate, cube side ~ U{odd sides in side_range} (§4, systematic over-segmentation)."""
    side = _draw_odd_side(rng, side_range)
    return dilate(mask, side), {"operation": "dilate", "side": side}


def all_erode(mask: np.ndarray, rng: np.random.Generator, side_range: Sequence[int] = (3, 15)) -> NoiseResult:
    """Biased protocol: always erode, cube side ~ U{odd sides in side_range} (§4, systematic under-segmentation)."""
    side = _draw_odd_side(rng, side_range)
    return erode(mask, side), {"operation": "erode", "side": side}


def edt_noise(mask: np.ndarray, rng: np.random.Generator, d_range: Sequence[float] = (3.0, 5.0),
              p_dilate: float = 0.5) -> NoiseResult:
    """EDT dilate/erode noise (Spatial Correction, BraTS setting; §4), d ~ U[d_range] voxels.

    Dilate: add every background voxel whose Euclidean distance to the mask is <= d.
    Erode: remove every foreground voxel whose distance to the background is <= d (distances to background voxels
    inside the image only). The reference code uses ``<``; ``<=`` makes d=1 the 6-neighbourhood (face neighbours).
    """
    mask = _check_mask(mask)
    p_dilate = _check_probability("p_dilate", p_dilate)
    lo, hi = float(d_range[0]), float(d_range[1])
    if not 0.0 <= lo <= hi:
        raise ValueError(f"d_range must satisfy 0 <= low <= high, got {tuple(d_range)}")
    d = float(rng.uniform(lo, hi))
    if rng.random() < p_dilate:
        info = {"operation": "dilate", "d": d}
        if not mask.any():
            return mask.copy(), info
        return ndimage.distance_transform_edt(~mask) <= d, info
    info = {"operation": "erode", "d": d}
    if mask.all():
        return mask.copy(), info
    return mask & (ndimage.distance_transform_edt(mask) > d), info


def _has_face_neighbour(mask: np.ndarray) -> np.ndarray:
    """True where at least one of the 2·ndim face neighbours (inside the image) is True."""
    out = np.zeros_like(mask)
    for axis in range(mask.ndim):
        lead = [slice(None)] * mask.ndim
        lag = [slice(None)] * mask.ndim
        lead[axis], lag[axis] = slice(1, None), slice(None, -1)
        out[tuple(lead)] |= mask[tuple(lag)]
        out[tuple(lag)] |= mask[tuple(lead)]
    return out


def markov_noise(mask: np.ndarray, rng: np.random.Generator, steps: int = 80, theta1: float = 0.7,
                 theta2: float = 0.05, theta3: float = 0.0, smooth_sigma: float = 1.0) -> NoiseResult:
    """Markov boundary noise of Spatial Correction (Yao et al., ICLR 2023; §4, BraTS: T=80, θ1=0.7, θ2=0.05, θ3=0).

    For each of ``steps`` steps: with prob θ1 take the outer boundary (background voxels with a foreground face
    neighbour), else the inner boundary (foreground voxels with a background face neighbour), and flip each of its
    voxels with prob θ2. Then flip every voxel with prob θ3, smooth with a Gaussian of ``smooth_sigma`` voxels and
    keep the voxels above 0.5 (``smooth_sigma=0`` skips the smoothing).
    """
    mask = _check_mask(mask).copy()
    theta1 = _check_probability("theta1", theta1)
    theta2 = _check_probability("theta2", theta2)
    theta3 = _check_probability("theta3", theta3)
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if smooth_sigma < 0:
        raise ValueError(f"smooth_sigma must be >= 0, got {smooth_sigma!r}")
    grow = rng.random(int(steps)) < theta1
    flat = mask.reshape(-1)
    for dilate_step in grow:
        if dilate_step:
            boundary = ~mask & _has_face_neighbour(mask)
        else:
            boundary = mask & _has_face_neighbour(~mask)
        idx = np.flatnonzero(boundary)
        flip = idx[rng.random(idx.size) < theta2]
        flat[flip] = ~flat[flip]
    if theta3 > 0:
        mask ^= rng.random(mask.shape) < theta3
    if smooth_sigma > 0:
        mask = ndimage.gaussian_filter(mask.astype(np.float32), float(smooth_sigma), mode="nearest") > 0.5
    return mask, {"operation": "markov", "dilate_steps": int(grow.sum()), "erode_steps": int((~grow).sum())}


PROTOCOLS: dict[str, Callable[..., NoiseResult]] = {
    "mt": mt_noise,
    "edt": edt_noise,
    "markov": markov_noise,
    "dilate": all_dilate,
    "erode": all_erode,
}


def get_protocol(name: str) -> Callable[..., NoiseResult]:
    """The protocol called ``name``; ValueError listing the valid names otherwise."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown noise protocol {name!r}; valid protocols: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def corrupt_label(label: np.ndarray, protocol: str, rng: np.random.Generator, classes: Optional[list[int]] = None,
                  ignore_label: Optional[int] = None, nested: bool = False, **params) -> tuple[np.ndarray, dict]:
    """Apply ``protocol`` to each foreground class of an integer label map (2-D or 3-D) and recompose it (§4).

    - ``classes``: the foreground labels to corrupt (default: every label present except 0 and ``ignore_label``);
      other classes keep their masks. Background (0) is never corrupted directly: it is what is left.
    - Class masks are ``label == c``, or ``label >= c`` with ``nested=True`` (classes nested by value, e.g. a core
      inside a lesion: eroding the lesion then leaves no background gap around the core).
    - Recomposition: start from background and paint every class mask (noisy or clean) in ascending label order, so
      higher labels win where masks overlap; voxels removed from a class and claimed by no other become 0.
    - ``ignore_label`` voxels are never part of a class mask and keep their value.

    Returns ``(new_label, info)``, ``new_label`` with ``label``'s dtype; ``info = {"protocol": name, "classes":
    {"<c>": {operation, side/d/..., voxels_before, voxels_after, added, removed}}}`` (JSON-serialisable).
    """
    noise_fn = get_protocol(protocol)
    label = np.asarray(label)
    if label.ndim not in (2, 3):
        raise ValueError(f"label maps must be 2-D or 3-D, got shape {label.shape}")
    if not np.issubdtype(label.dtype, np.integer):
        raise ValueError(f"label maps must have an integer dtype, got {label.dtype}")
    present = [int(v) for v in np.unique(label) if v != 0 and v != ignore_label]
    targets = present if classes is None else sorted({int(c) for c in classes})
    if any(c <= 0 or c == ignore_label for c in targets):
        raise ValueError(f"classes to corrupt must be foreground labels (not 0 or the ignore label), got {targets}")
    valid = label != ignore_label if ignore_label is not None else np.ones(label.shape, dtype=bool)
    out = np.zeros_like(label)
    records: dict[str, dict] = {}
    for c in sorted(set(present) | set(targets)):
        clean = ((label >= c) if nested else (label == c)) & valid
        if c in targets:
            noisy, record = noise_fn(clean, rng, **params)
            records[str(c)] = dict(record)
        else:
            noisy = clean
        out[noisy & valid] = c
    if ignore_label is not None:
        out[~valid] = label[~valid]
    for c in targets:
        before, after = label == c, out == c
        records[str(c)].update(voxels_before=int(before.sum()), voxels_after=int(after.sum()),
                               added=int((after & ~before).sum()), removed=int((before & ~after).sum()))
    return out, {"protocol": protocol, "classes": records}
