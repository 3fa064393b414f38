"""DALE as a method part (docs/METHOD.md §2.2): voxel weights from ω and the fuzzy partition, class-conditional alignment,
and what a label round does for DALE (loss history → ω, fuzzy membership) [ours: the wiring].

The algorithm pieces are the modules beside this one: ω in :mod:`nnunet_svl.dale.confidence`, the loss history in
:mod:`nnunet_svl.dale.loss_stats`, the partition in :mod:`nnunet_svl.dale.partition`, the weighted Dice+CE in
:mod:`nnunet_svl.dale.weighted_loss`, the alignment in :mod:`nnunet_svl.dale.alignment`.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from nnunet_svl.dale.alignment import class_conditional_alignment_loss, standardise_features
from nnunet_svl.dale.confidence import confidence_terms, label_confidence, label_confidence_across_cases
from nnunet_svl.dale.loss_stats import LossStats, reset_voxels, std, update_loss_stats
from nnunet_svl.dale.partition import boundary_proximity, fuzzy_membership, normalised_entropy
from nnunet_svl.dale.weighted_loss import VoxelWeightedDeepSupervisionLoss, class_balanced_weights
from nnunet_svl.parts.base import Batch, CaseRound, LabelSpace, MethodPart, RoundPlan
from nnunet_svl.parts.voxels import as_scales, first_scale, like
from nnunet_svl.runtime.config import SVLConfig, epoch_boundary, epoch_period


class DalePart(MethodPart):
    """DALE: ω-weighted segmentation loss, alignment, and ω / fuzzy membership from the loss history."""

    name = "dale"
    initial_rounds = 1
    initial_kind = "dale_init"
    stats_kind = "dale_stats"

    def __init__(self, cfg: SVLConfig, space: LabelSpace, num_epochs: int, base_loss=None):
        super().__init__()
        self.cfg = cfg
        self.space = space
        self.num_epochs = num_epochs
        # the weights travel as extra channels of the target (not with regions; see trainers/data.py)
        self.weighted_loss = VoxelWeightedDeepSupervisionLoss.like(base_loss) if base_loss is not None else None
        self.normalisers: dict[str, float] = {}
        """Per label class, the mean of exp(−η z) over all training cases in the last round
        (``omega_normalisation='class_across_cases'``)."""

    # ------------------------------------------------------------------------------------------ schedule
    @property
    def warmup_end_epoch(self) -> int:
        return epoch_boundary(self.cfg.dale_warmup_end, self.num_epochs)

    def fuzzy_voxels_active(self, epoch: int) -> bool:
        """Fuzzy voxels enter the loss (with ω) after DALE's warm-up; before, only non-fuzzy voxels teach."""
        return epoch >= self.warmup_end_epoch

    def round_due(self, epoch: int) -> Optional[bool]:
        """Loss statistics every K epochs of training."""
        return (epoch + 1) % epoch_period(self.cfg.correction_every, self.num_epochs) == 0

    # ------------------------------------------------------------------------------------------ losses
    def segmentation_loss(self, batch: Batch) -> Optional[torch.Tensor]:
        """nnU-Net's Dice+CE weighted per voxel by w = (1 − m) + m·ω once fuzzy voxels are in (METHOD §2.2), then
        rescaled per label class (``class_balance_max_gain``)."""
        if batch.omega is None or self.weighted_loss is None or not self.batch_is_mine(batch):
            return None
        active = 1.0 if self.fuzzy_voxels_active(batch.epoch) else 0.0
        omega, fuzzy, labels = as_scales(batch.omega), as_scales(batch.fuzzy), as_scales(batch.labels)
        weights = [((1 - m) + m * w * active).clamp_min(0) for w, m in zip(omega, fuzzy)]
        if self.cfg.class_balance_max_gain > 0 and not self.cfg.case_gate:
            # not with the teacher gate: voxels it drops must not teach, not hand their weight to the rest
            weights = [class_balanced_weights(w, lab, self.space.num_heads, max_gain=self.cfg.class_balance_max_gain,
                                              ignore_label=self.space.ignore_label)
                       for w, lab in zip(weights, labels)]
        # tensors: read once at the end of the epoch, no host synchronisation here
        self.record("dale_weight_mean", weights[0].mean())
        self.record("dale_omega_mean", omega[0].mean())
        self.record("dale_omega_min", omega[0].min())
        self.record("dale_fuzzy_mean", fuzzy[0].mean())
        return self.weighted_loss(batch.output, like(labels, batch.output), like(weights, batch.output))

    def add_loss_terms(self, batch: Batch, total: torch.Tensor, logged: dict) -> torch.Tensor:
        """+ γ · class-conditional 2-Wasserstein alignment of fuzzy to stable decoder features (METHOD §2.2)."""
        if not (self.fuzzy_voxels_active(batch.epoch) and self.cfg.alignment_weight > 0 and batch.fuzzy is not None
                and self.batch_is_mine(batch)):
            return total
        # standardised features (per channel, batch statistics, detached): the W2 distance of raw features grew
        # with their scale during a demo run (0.05·186 dominated the loss); standardised it cannot be gamed so
        align = class_conditional_alignment_loss(
            standardise_features(batch.features.float()), batch.label[:, 0].long(),
            first_scale(batch.fuzzy)[:, 0].float(), classes=self.space.classes, min_weight=self.cfg.alignment_min_weight)
        logged["dale_alignment"] = align
        return total + self.cfg.alignment_weight * align

    # ------------------------------------------------------------------------------------------ label rounds
    def initial_case(self, case: CaseRound) -> None:
        """DALE's initial state: the given label with ω = 1 and the boundary-proximity membership (ER) as the only
        fuzziness evidence before any prediction exists (METHOD §2.2)."""
        prox = boundary_proximity(case.label[0], sigma=self.cfg.fuzzy_sigma)
        case.omega = np.ones_like(prox, dtype=np.float32)[None]
        case.fuzzy = prox.astype(np.float32)[None]

    def update_case(self, plan: RoundPlan, case: CaseRound) -> dict:
        """One more round of loss history for the label in force, then its ω and m."""
        loss, valid = self.voxel_loss(case.label, case.maps["probs"])
        prev = LossStats.from_arrays(case.stats, source=case.stats_source) if case.stats is not None else None
        case.new_stats = update_loss_stats(prev, loss)
        if case.flagged is not False:
            # an unflagged case gets ω = 1, m = 0 from the gate whatever its maps say: they are not computed (two
            # thirds of a round's host time on a GPU with a third of the cases flagged; BENCHMARKS.md, GPU profile)
            case.omega, case.fuzzy = self.maps(plan, case.label, case.maps["probs"], case.new_stats, valid)
        self.apply_gate(case)
        return self.normaliser_counts(case.label, case.new_stats, valid)

    def apply_gate(self, case: CaseRound, flipped: Optional[np.ndarray] = None) -> None:
        """Teacher gate (METHOD §5): an unflagged case trains exactly as with nnU-Net (ω = 1, m = 0, so w = 1); in a
        flagged case the disputed voxels get weight 0 (ω = 0, m = 1) and flipped voxels the teacher's confidence."""
        if case.flagged is None:
            return
        if not case.flagged:
            shape = (1,) + case.label.shape[1:]
            case.omega = np.ones(shape, dtype=np.float32)
            case.fuzzy = np.zeros(shape, dtype=np.float32)
            return
        flips = flipped is not None and flipped.any()
        trust = self.cfg.teacher_trust_confidence
        if trust > 0 or flips:   # the teacher's probability of the label in force, only where it is read
            teacher = case.maps["teacher"]
            idx = np.searchsorted(self.space.classes_array(), case.label[0])
            confidence = np.take_along_axis(teacher, np.clip(idx, 0, teacher.shape[0] - 1)[None], axis=0)[0]
        dropped = case.disputed
        if trust > 0:   # only confident agreement teaches (config docstring)
            dropped = dropped | (confidence < trust)
        case.omega[0][dropped] = 0.0
        case.fuzzy[0][dropped] = 1.0
        if flips:
            case.omega[0][flipped] = confidence[flipped]
            case.fuzzy[0][flipped] = 1.0

    def normaliser_counts(self, label: np.ndarray, stats: LossStats, valid: np.ndarray) -> dict:
        """Per class, Σ exp(−η z) and the voxel count of this case (summed over cases and ranks by the round)."""
        if self.cfg.omega_normalisation != "class_across_cases":
            return {}
        terms = confidence_terms(stats.mean.astype(np.float32), std(stats).astype(np.float32), self.cfg.dale_eta,
                                 self.cfg.dale_kappa)
        counts = {}
        for c in np.unique(label[0][valid]):
            in_class = valid & (label[0] == c)
            counts[f"dale_norm_sum_c{int(c)}"] = float(terms[in_class].sum())
            counts[f"dale_norm_n_c{int(c)}"] = int(in_class.sum())
        return counts

    def finish_round(self, plan: RoundPlan, totals: dict) -> None:
        for key, total in totals.items():
            if key.startswith("dale_norm_sum_c") and totals.get(key.replace("_sum_", "_n_"), 0) > 0:
                self.normalisers[key[len("dale_norm_sum_c"):]] = float(total) / totals[key.replace("_sum_", "_n_")]

    def state_dict(self) -> dict:
        return {"dale_normalisers": dict(self.normalisers)} if self.normalisers else {}

    def load_state_dict(self, state: dict) -> None:
        self.normalisers = dict(state.get("dale_normalisers", {}))

    def after_label_change(self, plan: RoundPlan, case: CaseRound, old_label: np.ndarray) -> None:
        """Changed voxels restart their loss history at the new label's loss; ω and m are recomputed."""
        loss, valid = self.voxel_loss(case.label, case.maps["probs"])
        flipped = case.label[0] != old_label[0]
        case.new_stats = reset_voxels(case.new_stats, flipped, loss)
        case.omega, case.fuzzy = self.maps(plan, case.label, case.maps["probs"], case.new_stats, valid)
        self.apply_gate(case, flipped)

    def voxel_loss(self, label: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-voxel cross-entropy of the label in force (0 where the label is unusable) and the valid mask."""
        lab = label[0].astype(np.int64)
        valid = self.space.valid(lab)
        idx = np.clip(lab, 0, probs.shape[0] - 1)
        p = np.take_along_axis(probs, idx[None], axis=0)[0]
        return np.where(valid, -np.log(np.clip(p, 1e-6, 1.0)), 0.0).astype(np.float32), valid

    def maps(self, plan: RoundPlan, label: np.ndarray, probs: np.ndarray, stats: LossStats,
             valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ω from the loss history and the fuzzy membership m of the label in force (METHOD §2.2), (1, *sp) each."""
        # ω is computed within each label class [ours]: the loss level of a small foreground class is higher than the
        # background's early in training, and one softmax over the whole case down-weighted every lesion voxel until
        # the network predicted background only (seen in a short test run). Per class, ω ranks voxels against others
        # with the same label, and each class keeps mean weight 1.
        mean, spread = stats.mean.astype(np.float32), std(stats).astype(np.float32)
        lab = label[0]
        omega = np.ones(lab.shape, dtype=np.float32)
        for c in np.unique(lab[valid]):
            in_class = valid & (lab == c)
            normaliser = self.normalisers.get(str(int(c))) \
                if self.cfg.omega_normalisation == "class_across_cases" else None
            if normaliser:   # the previous round's mean over all cases; the first round falls back to per case
                omega[in_class] = label_confidence_across_cases(
                    mean, spread, self.cfg.dale_eta, self.cfg.dale_kappa, normaliser, in_class,
                    clip=(0.0, self.cfg.omega_max))[in_class]
            else:
                omega[in_class] = label_confidence(mean, spread, eta=self.cfg.dale_eta, kappa=self.cfg.dale_kappa,
                                                   valid_mask=in_class, clip=(0.0, self.cfg.omega_max))[in_class]
        if self.fuzzy_voxels_active(plan.epoch + 1):
            entropy = normalised_entropy(probs) if not self.space.has_regions else \
                normalised_entropy(np.stack([1 - probs, probs], 0)).mean(0)
        else:
            # during DALE's warm-up the network's entropy is high almost everywhere; the non-fuzzy set is defined by
            # boundary proximity (ER) alone until the fuzzy voxels enter the loss
            entropy = np.zeros(probs.shape[1:], dtype=np.float32)
        fuzzy = fuzzy_membership(entropy, boundary_proximity(lab, sigma=self.cfg.fuzzy_sigma),
                                 entropy_threshold=self.cfg.fuzzy_entropy_threshold,
                                 temperature=self.cfg.fuzzy_temperature)
        return omega[None].astype(np.float32), fuzzy[None].astype(np.float32)
