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


def _blend_many(items: list[torch.Tensor], patch_size: tuple[int, ...], step_size: float, patch_fn: PatchFn,
                device: torch.device, tile_batch: int) -> list[dict[str, torch.Tensor]]:
    """Sliding-window blend of ``patch_fn``'s maps over every item (C, *sp), ``tile_batch`` tiles per call: the tiles of
    all items in order, several cases' tiles in one call when the cases are small [ours, overhead]. The sums are added
    tile by tile in the same order whatever ``tile_batch`` is."""
    padded = [_pad_to_at_least(x, patch_size) for x in items]
    gaussian = compute_gaussian(tuple(patch_size), sigma_scale=1. / 8, value_scaling_factor=10,
                                dtype=torch.float32, device=device)
    tiles = []   # (item index, slicer)
    for i, (x, _) in enumerate(padded):
        steps = compute_steps_for_sliding_window(tuple(x.shape[1:]), patch_size, step_size)
        tiles += [(i, tuple(slice(c, c + p) for c, p in zip(corner, patch_size))) for corner in itertools.product(*steps)]
    sums: list[dict[str, torch.Tensor]] = [{} for _ in items]
    weights = [torch.zeros(tuple(x.shape[1:]), dtype=torch.float32, device=device) for x, _ in padded]
    per_call = max(1, int(tile_batch))
    for start in range(0, len(tiles), per_call):
        chunk = tiles[start:start + per_call]
        patches = torch.stack([padded[i][0][(slice(None), *sl)] for i, sl in chunk]).to(device)
        outputs = patch_fn(patches)
        for j, (i, sl) in enumerate(chunk):
            for name, value in outputs.items():
                v = value[j].float()
                if name not in sums[i]:
                    sums[i][name] = torch.zeros((v.shape[0], *weights[i].shape), dtype=torch.float32, device=device)
                sums[i][name][(slice(None), *sl)] += v * gaussian
            weights[i][sl] += gaussian
    return [{name: (s / w)[(slice(None), *unpad)] for name, s in sm.items()}
            for sm, w, (_, unpad) in zip(sums, weights, padded)]


@torch.no_grad()
def sliding_window_maps_many(datas: list, patch_size: tuple[int, ...], patch_fn: PatchFn, device: torch.device,
                             step_size: float = 0.5, tile_batch: int = 1) -> list[dict[str, np.ndarray]]:
    """:func:`sliding_window_maps` of several cases at once, ``tile_batch`` tiles per network call (config
    ``round_tile_batch``). On 2 CPU cores one forward pass of the benchmark's narrow network took about 3× longer per
    40³ patch one at a time than four at a time (BENCHMARKS.md, overhead): label rounds over small cases were mostly
    batch-1 overhead. ``patch_fn`` must treat the patches of a batch independently (nnU-Net's networks in eval mode
    do: instance normalisation)."""
    xs = [torch.as_tensor(np.asarray(d), dtype=torch.float32) for d in datas]
    patch_size = tuple(int(p) for p in patch_size)
    if len(patch_size) == 3:
        return [{k: v.cpu().numpy() for k, v in out.items()}
                for out in _blend_many(xs, patch_size, step_size, patch_fn, device, tile_batch)]
    # 2-D configurations: every slice along the first spatial axis is an item, as nnU-Net's predictor does
    items = [x[:, z] for x in xs for z in range(x.shape[1])]
    blended = _blend_many(items, patch_size, step_size, patch_fn, device, tile_batch)
    results, start = [], 0
    for x in xs:
        slices = blended[start:start + x.shape[1]]
        start += x.shape[1]
        results.append({k: torch.stack([s[k] for s in slices], dim=1).cpu().numpy() for k in slices[0]})
    return results


def sliding_window_maps(data: np.ndarray | torch.Tensor, patch_size: tuple[int, ...], patch_fn: PatchFn,
                        device: torch.device, step_size: float = 0.5, tile_batch: int = 1) -> dict[str, np.ndarray]:
    """Blend ``patch_fn``'s per-patch maps over a whole case.

    ``data``: preprocessed case (C, *spatial) with 3 spatial axes. ``patch_size``: the configuration's patch size
    (2 or 3 axes). Returns float32 maps (channels, *spatial) keyed like ``patch_fn``'s outputs.
    """
    return sliding_window_maps_many([data], patch_size, patch_fn, device, step_size, tile_batch)[0]
