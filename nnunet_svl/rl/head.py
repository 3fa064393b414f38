"""The vA3C head: per-voxel policy π(a|s) over 3 actions and value V(s) for every agent (docs/METHOD.md §1.1 "Network",
§1.2: a separate small module fed with the segmentation network's last decoder features plus the current state).

It must be cheap: a rollout runs it t_max times per training iteration at full patch resolution, and on a CPU a single
3×3×3 convolution at full resolution costs about as much (forward + backward) as a quarter of nnU-Net's whole
network. So the head has no spatial convolution at all [ours]:

* :meth:`VA3CHead.embed` — 1×1 conv → InstanceNorm(affine) → LeakyReLU on the decoder features. The features already
  carry the U-Net's spatial context. In belief mode they do not change between steps, so this runs once per rollout.
* :meth:`VA3CHead.decide` — per step: a 1×1 mix of the state and of its 3×3(×3) neighbourhood mean (a fixed average
  pool: every agent sees its neighbours' states, which the continuity penalty is about), added to the embedding,
  LeakyReLU, then one 1×1 convolution to the 3K policy logits and K values.

(A first layout with two hidden×hidden 3×3×3 convolutions per step made a transition-stage epoch 3× as long as a
warm-up epoch on the demo dataset.)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
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
        self.trunk = nn.Sequential(conv(feature_channels, hidden, 1), norm(hidden, affine=True), nn.LeakyReLU(0.01))
        self.state_mix = conv(2 * num_agents_channels, hidden, 1)
        self.out = conv(hidden, num_agents_channels * (NUM_ACTIONS + 1), 1)
        # near-uniform initial policy: tiny logits, but non-zero weights so gradients reach the trunk from step one
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.zeros_(self.out.bias)

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """The features trunk, (B, hidden, *sp); reusable across steps with the same features."""
        return self.trunk(features)

    def neighbourhood_mean(self, state: torch.Tensor) -> torch.Tensor:
        pool = F.avg_pool3d if self.dim == 3 else F.avg_pool2d
        return pool(state, 3, stride=1, padding=1, count_include_pad=False)

    def decide(self, embedding: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Policy logits (B, K, 3, *sp) and value (B, K, *sp) from an :meth:`embed` output and the state (B, K, *sp)."""
        if state.shape[1] != self.num_agents_channels or state.shape[2:] != embedding.shape[2:]:
            raise ValueError(f"state shape {tuple(state.shape)} does not fit the head (K={self.num_agents_channels}) "
                             f"or the features' spatial shape {tuple(embedding.shape[2:])}")
        state = state.to(embedding.dtype)
        h = F.leaky_relu(embedding + self.state_mix(torch.cat((state, self.neighbourhood_mean(state)), 1)), 0.01)
        out = self.out(h)
        b, k = state.shape[:2]
        logits = out[:, :k * NUM_ACTIONS].reshape((b, k, NUM_ACTIONS) + tuple(h.shape[2:]))
        return logits, out[:, k * NUM_ACTIONS:]

    def forward(self, features: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``features`` (B, F, *sp), ``state`` (B, K, *sp) → (policy logits (B, K, 3, *sp), value (B, K, *sp))."""
        return self.decide(self.embed(features), state)
