"""The teacher: an exponential moving average of the segmentation network's weights [ours; mean-teacher / temporal
ensembling]. Updated after every optimiser step on the device, without host synchronisation; used only in label
rounds (no gradient). Its predictions are smoother over time than the student's, so a label round is decided by a
network that has not yet fitted the latest noise."""
from __future__ import annotations

import copy
from typing import Optional

import numpy as np
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
        self._updates_host: Optional[np.float32] = np.float32(0.0)
        """The buffer's value on the host, counted here; None after a state dict was loaded (re-read once)."""

    def decay_now(self) -> float:
        """The decay of the next update, min(decay, (1 + t) / (10 + t)) after t updates, computed on the host in
        float32 exactly as the float32 buffer arithmetic would (so the teacher is bit for bit what it was when this
        was a device tensor); a Python number, since ``_foreach_lerp_`` reads a tensor weight with ``.item()`` (a host
        synchronisation in every training step, seen in the GPU profile)."""
        if self._updates_host is None:   # after a checkpoint was loaded into the buffer: once per resumed run
            self._updates_host = np.float32(self.updates.item())
        t = self._updates_host
        return float(min((np.float32(1.0) + t) / (np.float32(10.0) + t), np.float32(self.decay)))

    @torch.no_grad()
    def update(self, network: nn.Module) -> None:
        student = [p.detach() for p in network.parameters()]
        mine = list(self.model.parameters())
        if mine:
            torch._foreach_lerp_(mine, student, float(np.float32(1.0) - np.float32(self.decay_now())))
        self.updates += 1
        self._updates_host = self._updates_host + np.float32(1.0)
        for b_t, b_s in zip(self.model.buffers(), network.buffers()):
            b_t.copy_(b_s)

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._updates_host = None     # re-read the loaded buffer at the next update

    def forward(self, x: torch.Tensor):
        return self.model(x)

    def train(self, mode: bool = True) -> "EMATeacher":
        # the teacher always runs in eval mode (instance norm has no running statistics, dropout is off)
        super().train(mode)
        self.model.eval()
        return self
