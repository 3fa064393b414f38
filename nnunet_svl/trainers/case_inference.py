"""Whole-case sliding-window inference for label rounds (docs/METHOD.md §1.2 "whole-case inference (sliding window, no
augmentation)", §2.2 voxel loss history).

Runs on one preprocessed case, patch by patch with nnU-Net's own step and Gaussian-weighting helpers, and lets a
callback turn each patch's network input into any number of per-voxel maps (probabilities, refined states, ...),
which are blended with the Gaussian weights exactly like nnU-Net blends logits. 2-D configurations run slice by slice
along the first spatial axis, as nnU-Net's predictor does.
"""
from __future__ import annotations

import itertools
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from nnunetv2.inference.sliding_window_prediction import compute_gaussian, compute_steps_for_sliding_window

PatchFn = Callable[[torch.Tensor], dict[str, torch.Tensor]]


def _pad_to_at_least(x: torch.Tensor, size: tuple[int, ...]) -> tuple[torch.Tensor, tuple[slice, ...]]:
    """Zero-pad the spatial axes of (C, *sp) symmetrically to at least ``size``; return the slicer that undoes it."""
    spatial = x.shape[1:]
    before = [max(0, s - d) // 2 for s, d in zip(size, spatial)]
    after = [max(0, s - d) - b for s, d, b in zip(size, spatial, before)]
    pad = []
    for b, a in zip(reversed(before), reversed(after)):
        pad += [b, a]
    if any(pad):
        x = F.pad(x, pad)
    return x, tuple(slice(b, b + d) for b, d in zip(before, spatial))


def _sliding_window_nd(data: torch.Tensor, patch_size: tuple[int, ...], step_size: float, patch_fn: PatchFn,
                       device: torch.device) -> dict[str, torch.Tensor]:
    data, unpad = _pad_to_at_least(data, patch_size)
    spatial = tuple(data.shape[1:])
    steps = compute_steps_for_sliding_window(spatial, patch_size, step_size)
    gaussian = compute_gaussian(tuple(patch_size), sigma_scale=1. / 8, value_scaling_factor=10,
                                dtype=torch.float32, device=device)
    sums: dict[str, torch.Tensor] = {}
    weight = torch.zeros(spatial, dtype=torch.float32, device=device)
    for corner in itertools.product(*steps):
        sl = tuple(slice(c, c + p) for c, p in zip(corner, patch_size))
        patch = data[(slice(None), *sl)][None].to(device)
        outputs = patch_fn(patch)
        for name, value in outputs.items():
            value = value[0].float()
            if name not in sums:
                sums[name] = torch.zeros((value.shape[0], *spatial), dtype=torch.float32, device=device)
            sums[name][(slice(None), *sl)] += value * gaussian
        weight[sl] += gaussian
    return {name: (s / weight)[(slice(None), *unpad)] for name, s in sums.items()}


@torch.no_grad()
def sliding_window_maps(data: np.ndarray | torch.Tensor, patch_size: tuple[int, ...], patch_fn: PatchFn,
                        device: torch.device, step_size: float = 0.5) -> dict[str, np.ndarray]:
    """Blend ``patch_fn``'s per-patch maps over a whole case.

    ``data``: preprocessed case (C, *spatial) with 3 spatial axes. ``patch_size``: the configuration's patch size
    (2 or 3 axes). Returns float32 maps (channels, *spatial) keyed like ``patch_fn``'s outputs.
    """
    x = torch.as_tensor(np.asarray(data), dtype=torch.float32)
    patch_size = tuple(int(p) for p in patch_size)
    if len(patch_size) == 3:
        out = _sliding_window_nd(x, patch_size, step_size, patch_fn, device)
        return {k: v.cpu().numpy() for k, v in out.items()}
    slices = [_sliding_window_nd(x[:, z], patch_size, step_size, patch_fn, device) for z in range(x.shape[1])]
    return {k: torch.stack([s[k] for s in slices], dim=1).cpu().numpy() for k in slices[0]}
