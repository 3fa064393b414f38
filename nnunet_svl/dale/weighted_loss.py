"""nnU-Net's Dice + CE loss with per-voxel weights (docs/METHOD.md §2.2: ω "weights nnU-Net's CE and Dice per voxel").

:class:`VoxelWeightedDCandCELoss` is nnU-Net's ``DC_and_CE_loss`` as ``nnUNetTrainer._build_loss`` configures it
(``dice_class=MemoryEfficientSoftDiceLoss``), with an optional per-voxel weight map w (B, 1, *sp), w ≥ 0:

* CE:   Σ_valid w_i·ce_i / Σ_valid c_{y_i}   (c = CE class weights, 1 when none: Σ_valid c_{y_i} = N_valid),
  i.e. nnU-Net's mean CE with each voxel's term scaled by w_i; the normaliser does not depend on w, so w = 0
  removes a voxel and w = 2 doubles its pull.
* Dice: nnU-Net's ``MemoryEfficientSoftDiceLoss`` itself, with w (times the ignore-label mask) passed as its
  ``loss_mask``: intersection Σ w·p·y and both denominators Σ w·p, Σ w·y, keeping batch_dice, do_bg, smooth and the
  DDP all-gather. Scaling all weights by a constant leaves it unchanged (up to ``smooth``).

With ``voxel_weight=None`` the forward pass runs exactly nnU-Net's operations and returns the identical value.
:class:`VoxelWeightedDeepSupervisionLoss` applies it over the deep-supervision outputs like nnU-Net's
``DeepSupervisionWrapper``, with one weight map per scale.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss
from nnunetv2.training.loss.robust_ce_loss import RobustCrossEntropyLoss
from nnunetv2.utilities.helpers import softmax_helper_dim1
from torch import nn

TensorOrList = Union[torch.Tensor, Sequence[torch.Tensor]]


def class_balanced_weights(weights: torch.Tensor, labels: torch.Tensor, num_classes: int,
                           max_gain: float = 10.0, ignore_label: Optional[int] = None) -> torch.Tensor:
    """Rescale per-voxel weights so that, in every sample and label class c, Σ_{y_i=c} w_i = N_c (the class's voxel
    count, i.e. its weight with all w = 1) [ours, METHOD §2.2 design note].

    Why: with small structures most foreground voxels lie near a boundary, so the fuzzy partition (weight 1 − m during
    DALE's warm-up) removed ~75 % of the lesion's weight but ~10 % of the background's, and the network learned to
    predict background only (Dice 0 on the 32³ test phantoms where nnU-Net reached 0.72). Rescaling per class keeps
    nnU-Net's class balance while the partition and ω still choose which voxels of a class teach.

    weights (B, 1, *sp) ≥ 0; labels (B, 1, *sp) integer. The gain N_c / Σ w is capped at ``max_gain``; a class whose
    weights are all 0 stays 0; voxels with labels < 0, ≥ ``num_classes`` or equal to ``ignore_label`` are unchanged.
    """
    if weights.shape != labels.shape:
        raise ValueError(f"weights {tuple(weights.shape)} and labels {tuple(labels.shape)} must have the same shape")
    b = weights.shape[0]
    w = weights.reshape(b, -1).float()
    lab = labels.reshape(b, -1).long()
    valid = (lab >= 0) & (lab < num_classes)
    if ignore_label is not None:
        valid &= lab != ignore_label
    idx = torch.where(valid, lab, torch.zeros_like(lab))
    vf = valid.float()
    counts = torch.zeros(b, num_classes, device=w.device).scatter_add_(1, idx, vf)
    sums = torch.zeros(b, num_classes, device=w.device).scatter_add_(1, idx, w * vf)
    gain = torch.where(sums > 0, counts / sums.clamp_min(1e-12), torch.ones_like(sums)).clamp(max=max_gain)
    out = torch.where(valid, w * torch.gather(gain, 1, idx), w)
    return out.reshape(weights.shape).to(weights.dtype)


class VoxelWeightedDCandCELoss(nn.Module):
    """nnU-Net's DC_and_CE_loss (MemoryEfficientSoftDiceLoss) with an optional per-voxel weight map; same
    constructor arguments as ``DC_and_CE_loss``."""

    def __init__(self, soft_dice_kwargs: dict, ce_kwargs: dict, weight_ce: float = 1, weight_dice: float = 1,
                 ignore_label: Optional[int] = None):
        super().__init__()
        ce_kwargs = dict(ce_kwargs)
        if ignore_label is not None:
            ce_kwargs["ignore_index"] = ignore_label
        if "reduction" in ce_kwargs:
            raise ValueError("ce_kwargs must not set 'reduction': the loss reduces CE itself (mean, as nnU-Net)")
        self.weight_dice = weight_dice
        self.weight_ce = weight_ce
        self.ignore_label = ignore_label
        self.ce = RobustCrossEntropyLoss(**ce_kwargs)
        self.ce_per_voxel = RobustCrossEntropyLoss(**ce_kwargs, reduction="none")
        self.dc = MemoryEfficientSoftDiceLoss(apply_nonlin=softmax_helper_dim1, **soft_dice_kwargs)

    @classmethod
    def like(cls, loss: DC_and_CE_loss) -> "VoxelWeightedDCandCELoss":
        """The weighted counterpart of an nnU-Net ``DC_and_CE_loss`` (its dice module possibly torch.compile'd)."""
        if not isinstance(loss, DC_and_CE_loss):
            raise TypeError(f"expected nnU-Net's DC_and_CE_loss, got {type(loss).__name__}")
        dc = getattr(loss.dc, "_orig_mod", loss.dc)
        if not isinstance(dc, MemoryEfficientSoftDiceLoss):
            raise TypeError(f"expected a MemoryEfficientSoftDiceLoss dice term, got {type(dc).__name__}")
        ce_kwargs = {"weight": loss.ce.weight, "label_smoothing": loss.ce.label_smoothing}
        soft_dice_kwargs = {"batch_dice": dc.batch_dice, "do_bg": dc.do_bg, "smooth": dc.smooth, "ddp": dc.ddp}
        return cls(soft_dice_kwargs, ce_kwargs, weight_ce=loss.weight_ce, weight_dice=loss.weight_dice,
                   ignore_label=loss.ignore_label)

    def forward(self, net_output: torch.Tensor, target: torch.Tensor,
                voxel_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        """net_output (B, C, *sp) logits; target (B, 1, *sp) label map; voxel_weight (B, 1, *sp), ≥ 0, or None."""
        if voxel_weight is not None and voxel_weight.shape != target.shape:
            raise ValueError(f"voxel_weight {tuple(voxel_weight.shape)} must have the target's shape "
                             f"{tuple(target.shape)} (B, 1, *spatial)")
        if self.ignore_label is not None:
            assert target.shape[1] == 1, "ignore label is not implemented for one hot encoded target variables"
            mask = target != self.ignore_label
            target_dice = torch.where(mask, target, 0)
            num_fg = mask.sum()
        else:
            target_dice = target
            mask = None

        if voxel_weight is None:
            dice_mask = mask
        else:
            voxel_weight = voxel_weight.float()
            dice_mask = voxel_weight if mask is None else voxel_weight * mask

        dc_loss = self.dc(net_output, target_dice, loss_mask=dice_mask) if self.weight_dice != 0 else 0
        if self.weight_ce != 0 and (self.ignore_label is None or num_fg > 0):
            ce_loss = self.ce(net_output, target[:, 0]) if voxel_weight is None \
                else self._weighted_ce(net_output, target[:, 0], voxel_weight[:, 0])
        else:
            ce_loss = 0
        return self.weight_ce * ce_loss + self.weight_dice * dc_loss

    def _weighted_ce(self, net_output: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Σ w·ce / Σ_valid c_y: torch's mean-reduction normaliser (non-ignored voxels, CE class weights)."""
        ce = self.ce_per_voxel(net_output, target).float()  # 0 on ignored voxels
        target = target.long()
        valid = target != self.ce.ignore_index
        if self.ce.weight is None:
            normaliser = valid.sum()
        else:
            class_weight = self.ce.weight.to(device=target.device, dtype=torch.float32)
            normaliser = (class_weight[torch.where(valid, target, 0)] * valid).sum()
        return (weight * ce).sum() / normaliser


class VoxelWeightedDeepSupervisionLoss(nn.Module):
    """Σ_k weight_factors[k]·loss(outputs[k], targets[k], voxel_weights[k]) over the deep-supervision scales, as
    nnU-Net's ``DeepSupervisionWrapper`` (scales with factor 0 are skipped)."""

    def __init__(self, loss: VoxelWeightedDCandCELoss, weight_factors: Optional[Sequence[float]] = None):
        super().__init__()
        if weight_factors is not None and not any(w != 0 for w in weight_factors):
            raise ValueError("at least one deep-supervision weight factor must be != 0")
        self.loss = loss
        self.weight_factors = None if weight_factors is None else tuple(weight_factors)

    @classmethod
    def like(cls, loss: Union[DeepSupervisionWrapper, DC_and_CE_loss]) -> "VoxelWeightedDeepSupervisionLoss":
        """The weighted counterpart of the loss ``nnUNetTrainer._build_loss`` built: a DeepSupervisionWrapper around a
        DC_and_CE_loss, or (deep supervision off) a bare DC_and_CE_loss, which becomes a single scale of factor 1."""
        if isinstance(loss, DeepSupervisionWrapper):
            return cls(VoxelWeightedDCandCELoss.like(loss.loss), loss.weight_factors)
        return cls(VoxelWeightedDCandCELoss.like(loss), (1.0,))

    def forward(self, outputs: TensorOrList, targets: TensorOrList,
                voxel_weights: Optional[TensorOrList] = None) -> torch.Tensor:
        """Lists (one entry per scale, highest resolution first) or single tensors (one scale)."""
        if isinstance(outputs, torch.Tensor):
            outputs = [outputs]
        if isinstance(targets, torch.Tensor):
            targets = [targets]
        if isinstance(voxel_weights, torch.Tensor):
            voxel_weights = [voxel_weights]
        if voxel_weights is None:
            voxel_weights = [None] * len(outputs)
        if not len(outputs) == len(targets) == len(voxel_weights):
            raise ValueError(f"got {len(outputs)} outputs, {len(targets)} targets and {len(voxel_weights)} weight "
                             "maps; deep supervision needs one of each per scale")
        factors = (1,) * len(outputs) if self.weight_factors is None else self.weight_factors
        return sum([factors[i] * self.loss(o, t, w)
                    for i, (o, t, w) in enumerate(zip(outputs, targets, voxel_weights)) if factors[i] != 0.0])
