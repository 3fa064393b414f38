"""The teacher: an exponential moving average of the segmentation network's weights [ours; mean-teacher / temporal
ensembling]. Updated after every optimiser step on the device, without host synchronisation; used only in label
rounds (no gradient). Its predictions are smoother over time than the student's, so a label round is decided by a
network that has not yet fitted the latest noise."""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMATeacher(nn.Module):
    """Holds a frozen copy of ``network``; :meth:`update` moves it towards the student by ``1 − decay_t`` with the
    mean-teacher warm-up decay_t = min(decay, (1 + t) / (10 + t)) after t updates (Tarvainen & Valpola 2017): early on
    the teacher follows the student closely instead of averaging in the random initialisation for hundreds of steps,
    so case flags can be decided early in a run."""

    def __init__(self, network: nn.Module, decay: float = 0.99):
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(network)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.model.eval()
        self.register_buffer("updates", torch.zeros((), dtype=torch.float32))

    def decay_now(self) -> torch.Tensor:
        """The decay of the next update (a 0-d tensor on the buffer's device: no host synchronisation)."""
        t = self.updates
        return torch.clamp((1.0 + t) / (10.0 + t), max=self.decay)

    @torch.no_grad()
    def update(self, network: nn.Module) -> None:
        student = [p.detach() for p in network.parameters()]
        mine = list(self.model.parameters())
        weight = (1.0 - self.decay_now()).to(mine[0].dtype) if mine else None
        torch._foreach_lerp_(mine, student, weight)
        self.updates += 1
        for b_t, b_s in zip(self.model.buffers(), network.buffers()):
            b_t.copy_(b_s)

    def forward(self, x: torch.Tensor):
        return self.model(x)

    def train(self, mode: bool = True) -> "EMATeacher":
        # the teacher always runs in eval mode (instance norm has no running statistics, dropout is off)
        super().train(mode)
        self.model.eval()
        return self
