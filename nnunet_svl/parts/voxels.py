"""Small ideas used across the trainers and parts, each in one place [ours].

* The **valid-voxel mask**: voxels whose label may be trained on, measured and corrected — not nnU-Net's −1 (outside
  the nonzero mask after cropping) and not the dataset's ignore label.
* **Deep-supervision lists**: nnU-Net passes outputs and targets as a list over scales when deep supervision is on and
  as a single tensor when it is off; :func:`as_scales` / :func:`first_scale` / :func:`like` handle both.
* **Channel selection without a host synchronisation** (:func:`select_channels`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence, TypeVar

if TYPE_CHECKING:
    import torch

T = TypeVar("T")


def valid_voxels(label, ignore_label: Optional[int]):
    """Boolean mask of usable label voxels (numpy array or torch tensor in, same kind out)."""
    valid = label >= 0
    if ignore_label is not None:
        valid = valid & (label != ignore_label)
    return valid


def is_scales(x: Any) -> bool:
    """True when ``x`` is a list over deep-supervision scales."""
    return isinstance(x, (list, tuple))


def as_scales(x) -> list:
    """``x`` as a list over deep-supervision scales (a single tensor becomes a list of one)."""
    return list(x) if is_scales(x) else [x]


def first_scale(x):
    """The full-resolution entry of a deep-supervision list, or ``x`` itself."""
    return x[0] if is_scales(x) else x


def like(values: Sequence[T], template) -> "T | list[T]":
    """``values`` (one per scale) shaped like ``template``: a list if ``template`` is one, else the single entry."""
    return list(values) if is_scales(template) else values[0]


def select_channels(x: torch.Tensor, channels: Sequence[int]) -> torch.Tensor:
    """``x[:, channels]``; a run of consecutive channels is taken as a slice (a view), since indexing a CUDA tensor
    with a list copies the indices to the device first (a host synchronisation in the training step)."""
    channels = [int(c) for c in channels]
    if channels and channels == list(range(channels[0], channels[0] + len(channels))):
        return x[:, channels[0]:channels[0] + len(channels)]
    return x[:, channels]
