"""The three voxel actions of SVL-DRL (docs/METHOD.md §1.1 "Actions").

Every (voxel, channel) of the state is an agent. With ε ~ U(0, 1) drawn per agent and step:
keep ``s``; enhance ``clip(s·(1 + 0.3ε), 0, 1)``; weaken ``clip(s·(1 − 0.3ε), 0, 1)``.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

KEEP, ENHANCE, WEAKEN = 0, 1, 2
ACTION_NAMES = ("keep", "enhance", "weaken")
NUM_ACTIONS = len(ACTION_NAMES)


def apply_actions(state: torch.Tensor, actions: torch.Tensor, eps: torch.Tensor | float,
                  scale: float = 0.3) -> torch.Tensor:
    """New state after every agent applied its action (METHOD §1.1).

    ``state``: float (B, K, *spatial) in [0, 1]; ``actions``: integer tensor of the same shape with values in
    {KEEP, ENHANCE, WEAKEN}; ``eps``: tensor broadcastable to ``state`` (or a float) with values in [0, 1];
    ``scale``: the 0.3 of the paper. Returns a new tensor; ``state`` is not modified.
    """
    if actions.shape != state.shape:
        raise ValueError(f"actions shape {tuple(actions.shape)} != state shape {tuple(state.shape)}")
    step = scale * torch.as_tensor(eps, dtype=state.dtype, device=state.device)
    factor = torch.where(actions == ENHANCE, 1 + step, torch.where(actions == WEAKEN, 1 - step, torch.ones_like(step)))
    return torch.clamp(state * factor, 0.0, 1.0)


def sample_uniform_eps(shape: Sequence[int], generator: Optional[torch.Generator] = None,
                       device: torch.device | str | None = None) -> torch.Tensor:
    """ε ~ U(0, 1) of the given shape on ``device``, drawn from ``generator`` (on the generator's own device, then
    moved, so a CPU generator also serves CUDA tensors) or from torch's default generator when it is None."""
    if generator is None:
        return torch.rand(tuple(shape), device=device)
    return torch.rand(tuple(shape), generator=generator, device=generator.device).to(device)
