"""n-step returns and the pixel-wise A3C losses (docs/METHOD.md §1.1 "pixelRL defaults").

Every (voxel, class) is an agent; its losses are averaged over agents, classes and steps:
L_policy = −mean(log π(a_t|s_t) · (R_t − V(s_t)).detach()) − w_H · mean(H(π(·|s_t))) and
L_value = mean((R_t − V(s_t))²) (no ½: the caller weighs it, e.g. α of the staged loss).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F


def nstep_returns(rewards: Sequence[torch.Tensor], bootstrap: Optional[torch.Tensor], gamma: float = 0.95,
                  reward_map: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> list[torch.Tensor]:
    """Discounted returns R_t = r_t + γ·R_{t+1}, R_T = ``bootstrap`` (e.g. V(s_T), detached) or 0.

    ``reward_map``: pixelRL's variant R_t = r_t + γ·(w ∗ R_{t+1}) with a learned kernel w (:class:`RewardMapConv`),
    so an agent's return also counts its neighbours' futures. Returns a list aligned with ``rewards``.
    """
    if not rewards:
        raise ValueError("nstep_returns needs at least one reward")
    future = torch.zeros_like(rewards[-1], dtype=torch.float32) if bootstrap is None else bootstrap.float()
    out: list[torch.Tensor] = []
    for r in reversed(rewards):
        mixed = reward_map(future) if reward_map is not None else future
        future = r.float() + gamma * mixed
        out.append(future)
    return out[::-1]


@dataclass
class A3CLosses:
    """Output of :func:`a3c_losses`: ``policy`` and ``value`` carry gradients; ``entropy`` and ``advantage_mean``
    are detached scalars for logging."""

    policy: torch.Tensor
    value: torch.Tensor
    entropy: torch.Tensor
    advantage_mean: torch.Tensor


def a3c_losses(log_probs: Sequence[torch.Tensor], entropies: Sequence[torch.Tensor], values: Sequence[torch.Tensor],
               returns: Sequence[torch.Tensor], entropy_weight: float = 0.01,
               valid_mask: Optional[torch.Tensor] = None) -> A3CLosses:
    """Pixel-wise A3C losses of one rollout (pixelRL). Each argument is a list over steps of (B, K, *sp) tensors:
    log π of the taken action, policy entropy, V(s_t) and the return R_t. ``valid_mask``: bool broadcastable to
    (B, K, *sp) (e.g. (B, 1, *sp)); agents outside it do not count. Computed in float32."""
    steps = len(log_probs)
    if steps == 0 or not (steps == len(entropies) == len(values) == len(returns)):
        raise ValueError(f"a3c_losses needs equally long, non-empty step lists; got {len(log_probs)} log_probs, "
                         f"{len(entropies)} entropies, {len(values)} values, {len(returns)} returns")
    like = log_probs[0]
    mask = None if valid_mask is None else valid_mask.to(device=like.device, dtype=torch.float32).expand_as(like)
    count = (torch.tensor(float(like.numel()), device=like.device) if mask is None else mask.sum()) * steps
    count = count.clamp_min(1.0)

    def masked_sum(x: torch.Tensor) -> torch.Tensor:
        return (x * mask).sum() if mask is not None else x.sum()

    policy_term = value_term = entropy_term = advantage_term = torch.zeros((), device=like.device)
    for logp, ent, v, ret in zip(log_probs, entropies, values, returns):
        advantage = ret.float() - v.float()
        policy_term = policy_term + masked_sum(logp.float() * advantage.detach())
        value_term = value_term + masked_sum(advantage ** 2)
        entropy_term = entropy_term + masked_sum(ent.float())
        advantage_term = advantage_term + masked_sum(advantage.detach())
    entropy_mean = entropy_term / count
    return A3CLosses(policy=-policy_term / count - entropy_weight * entropy_mean,
                     value=value_term / count,
                     entropy=entropy_mean.detach(),
                     advantage_mean=(advantage_term / count).detach())


class RewardMapConv(nn.Module):
    """pixelRL's reward-map convolution: one learned ``kernel_size``^dim kernel, shared by all classes and applied to
    each class map of the returns separately (zero padding), initialised to the identity so that training starts
    from plain returns (METHOD §1.1)."""

    def __init__(self, dim: int, kernel_size: int = 3):
        super().__init__()
        if dim not in (2, 3):
            raise ValueError(f"RewardMapConv supports 2-D and 3-D maps, got dim={dim}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        self.dim = dim
        weight = torch.zeros((1, 1) + (kernel_size,) * dim)
        weight[(0, 0) + (kernel_size // 2,) * dim] = 1.0
        self.weight = nn.Parameter(weight)

    def forward(self, returns: torch.Tensor) -> torch.Tensor:
        """``returns``: (B, K, *sp) → the same shape, float32 (autocast is disabled inside)."""
        if returns.ndim != self.dim + 2:
            raise ValueError(f"expected a (B, K) + {self.dim}-D tensor, got shape {tuple(returns.shape)}")
        b, k = returns.shape[:2]
        conv = F.conv3d if self.dim == 3 else F.conv2d
        with torch.autocast(device_type=returns.device.type, enabled=False):
            flat = returns.float().reshape((b * k, 1) + tuple(returns.shape[2:]))
            mixed = conv(flat, self.weight.float(), padding=self.weight.shape[-1] // 2)
        return mixed.reshape(returns.shape)
