"""The vA3C head: per-voxel policy π(a|s) over 3 actions and value V(s) for every agent (METHOD.md §1.1 "Network",
§1.2: a separate small module fed with the segmentation network's last decoder features plus the current state).

Two 3×3(×3) conv → InstanceNorm(affine) → LeakyReLU blocks, then 1×1 policy and value convolutions. The first
convolution is split into a features part and a state part (conv(concat(F, s)) = conv_F(F) + conv_s(s)), so a rollout
whose features do not change between steps (belief mode) computes the expensive features part once
(:meth:`VA3CHead.embed`) and only the state part per step (:meth:`VA3CHead.decide`).
"""
from __future__ import annotations

import torch
from torch import nn

from nnunet_svl.rl.actions import NUM_ACTIONS


class VA3CHead(nn.Module):
    def __init__(self, feature_channels: int, num_agents_channels: int, dim: int, hidden: int = 16):
        super().__init__()
        if dim not in (2, 3):
            raise ValueError(f"VA3CHead supports 2-D and 3-D inputs, got dim={dim}")
        if min(feature_channels, num_agents_channels, hidden) < 1:
            raise ValueError("feature_channels, num_agents_channels and hidden must be >= 1")
        conv = nn.Conv3d if dim == 3 else nn.Conv2d
        norm = nn.InstanceNorm3d if dim == 3 else nn.InstanceNorm2d
        self.dim = dim
        self.num_agents_channels = num_agents_channels
        self.feature_conv = conv(feature_channels, hidden, 3, padding=1, bias=False)
        self.state_conv = conv(num_agents_channels, hidden, 3, padding=1, bias=True)
        self.block1 = nn.Sequential(norm(hidden, affine=True), nn.LeakyReLU(0.01))
        self.block2 = nn.Sequential(conv(hidden, hidden, 3, padding=1), norm(hidden, affine=True), nn.LeakyReLU(0.01))
        self.policy = conv(hidden, num_agents_channels * NUM_ACTIONS, 1)
        self.value = conv(hidden, num_agents_channels, 1)
        # near-uniform initial policy: tiny logits, but non-zero weights so gradients reach the trunk from step one
        nn.init.normal_(self.policy.weight, std=1e-3)
        nn.init.zeros_(self.policy.bias)

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """Features part of the first convolution, (B, hidden, *sp); reusable across steps with the same features."""
        return self.feature_conv(features)

    def decide(self, embedding: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Policy logits (B, K, 3, *sp) and value (B, K, *sp) from an :meth:`embed` output and the state (B, K, *sp)."""
        if state.shape[1] != self.num_agents_channels or state.shape[2:] != embedding.shape[2:]:
            raise ValueError(f"state shape {tuple(state.shape)} does not fit the head (K={self.num_agents_channels}) "
                             f"or the features' spatial shape {tuple(embedding.shape[2:])}")
        h = self.block1(embedding + self.state_conv(state))
        h = self.block2(h)
        b, k = state.shape[:2]
        logits = self.policy(h).reshape((b, k, NUM_ACTIONS) + tuple(h.shape[2:]))
        return logits, self.value(h)

    def forward(self, features: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``features`` (B, F, *sp), ``state`` (B, K, *sp) → (policy logits (B, K, 3, *sp), value (B, K, *sp))."""
        return self.decide(self.embed(features), state)
