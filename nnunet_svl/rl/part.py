"""SVL-DRL's vA3C as a method part (docs/METHOD.md §1): the head, the training rollout and staged loss, and what a label
round does for vA3C (greedy refinement → correction proposal) [ours: the wiring].

The algorithm pieces are the modules beside this one: the head in :mod:`nnunet_svl.rl.head`, actions in
:mod:`nnunet_svl.rl.actions`, the composite reward in :mod:`nnunet_svl.rl.reward`, rollouts and refinement in
:mod:`nnunet_svl.rl.rollout`, returns and A3C losses in :mod:`nnunet_svl.rl.returns`, and where a flip is decided in
:mod:`nnunet_svl.rl.correction`.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from nnunet_svl.parts.base import Batch, CaseRound, LabelSpace, MethodPart, RoundPlan
from nnunet_svl.parts.label_round import agreement_shortfall
from nnunet_svl.parts.voxels import first_scale, select_channels
from nnunet_svl.rl.correction import class_probabilities, propose_corrections
from nnunet_svl.rl.head import VA3CHead
from nnunet_svl.rl.returns import RewardMapConv, a3c_losses
from nnunet_svl.rl.rollout import BeliefObserver, IntensityObserver, refine, rollout
from nnunet_svl.runtime.config import SVLConfig, epoch_boundary, epoch_period

STAGE_NAMES = ("warmup", "transition", "full_rl")

Segment = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""network input → (decoder features, foreground probabilities), no gradient (the ``intensity`` state mode)."""


def oracle_gate(kind: str, label: np.ndarray, proposed: np.ndarray, given: np.ndarray,
                clean: np.ndarray) -> tuple[np.ndarray, int]:
    """ORACLE ablations [ours, benchmark only]: ``case`` — no change at all in a case whose given label equals the
    clean one; ``voxel`` — keep only the changes whose new label is the clean one. Returns (label, changes reverted)."""
    changed = proposed != label
    if kind == "case":
        keep = changed if np.any(given != clean) else np.zeros_like(changed)
    elif kind == "voxel":
        keep = changed & (proposed == clean)
    else:
        raise ValueError(f"unknown oracle gate {kind!r}")
    return np.where(keep, proposed, label), int((changed & ~keep).sum())


class VA3CPart(MethodPart):
    """The vA3C head, its staged losses and the correction it proposes in label rounds."""

    name = "va3c"

    def __init__(self, cfg: SVLConfig, space: LabelSpace, num_epochs: int, feature_channels: int, dim: int,
                 num_input_channels: int, device: torch.device, rank: int = 0, segment: Optional[Segment] = None,
                 confidence_gate: bool = False, seed_offset: int = 0):
        super().__init__()
        self.cfg = cfg
        self.space = space
        self.num_epochs = num_epochs
        self.feature_channels = feature_channels
        self.dim = dim
        self.num_input_channels = num_input_channels
        self.segment = segment
        self.confidence_gate = confidence_gate
        """Only voxels whose DALE label confidence ω is below ``correction_omega_gate`` may flip (ω is read from the
        case, so a DALE part must come before this one)."""
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(cfg.seed + 7919 * rank + seed_offset)
        self.head: Optional[VA3CHead] = None
        self.reward_map: Optional[RewardMapConv] = None
        self.log: Callable[[str], None] = lambda message: None

    def build_modules(self) -> dict[str, nn.Module]:
        agents = self.num_input_channels if self.cfg.state_mode == "intensity" else len(self.space.foreground_outputs)
        self.head = VA3CHead(self.feature_channels, agents, dim=self.dim, hidden=self.cfg.head_hidden)
        modules: dict[str, nn.Module] = {"va3c_head": self.head}
        if self.cfg.reward_map_conv:
            self.reward_map = modules["reward_map_conv"] = RewardMapConv(self.dim)
        return modules

    # ------------------------------------------------------------------------------------------ schedule
    @property
    def warmup_end_epoch(self) -> int:
        return epoch_boundary(self.cfg.warmup_end, self.num_epochs)

    @property
    def transition_end_epoch(self) -> int:
        return max(self.warmup_end_epoch, epoch_boundary(self.cfg.transition_end, self.num_epochs))

    def stage(self, epoch: int) -> int:
        """0 warm-up (segmentation loss only), 1 transition (+ value loss), 2 full RL (+ policy loss, corrections)."""
        if epoch < self.warmup_end_epoch:
            return 0
        return 1 if epoch < self.transition_end_epoch else 2

    def round_due(self, epoch: int) -> Optional[bool]:
        """During full RL, a correction round every K epochs (this overrides DALE's statistics schedule)."""
        if self.stage(epoch) != 2:
            return None
        return (epoch + 1 - self.transition_end_epoch) % epoch_period(self.cfg.correction_every, self.num_epochs) == 0

    # ------------------------------------------------------------------------------------------ losses
    def add_loss_terms(self, batch: Batch, total: torch.Tensor, logged: dict) -> torch.Tensor:
        """The staged loss (METHOD §1.1 "Three stages"): transition (1−λ)·L + λ·L_value, full RL
        (1−α−β)·L + α·L_value + β·L_policy."""
        stage = self.stage(batch.epoch)
        if stage == 0 or not self.batch_is_mine(batch):
            # under the teacher gate the head is trained on batches with a flagged case only: it is used only there
            # (gated_flips), and a batch without one costs what it costs in nnUNetTrainer (no rollout)
            return total
        rl = self.rl_losses(batch)
        logged.update({"rl_mean_reward": rl["mean_reward"], "rl_value_loss": rl["value"],
                       "rl_policy_loss": rl["policy"], "rl_entropy": rl["entropy"]})
        keep = self.cfg.rl_loss_mixing == "paper"   # additive: the segmentation loss keeps weight 1
        if stage == 1:
            lam = self.cfg.lambda_value_transition
            return (1 - lam if keep else 1.0) * total + lam * rl["value"]
        a, b = self.cfg.alpha_value, self.cfg.beta_policy
        return (1 - a - b if keep else 1.0) * total + a * rl["value"] + b * rl["policy"]

    def observer_and_state(self, data: torch.Tensor, logits: torch.Tensor, features: torch.Tensor):
        """The rollout's observer and initial state s_0 (METHOD §1.2 "Two state modes")."""
        if self.cfg.state_mode == "belief":
            state0 = select_channels(self.space.probabilities(logits), self.space.foreground_outputs).detach()
            return BeliefObserver(features), state0
        # intensity: the state is the input rescaled to [0, 1] per sample and channel; each step re-segments it
        dims = tuple(range(2, data.ndim))
        lo = data.amin(dim=dims, keepdim=True)
        hi = data.amax(dim=dims, keepdim=True)
        scale = (hi - lo).clamp_min(1e-6)
        state0 = ((data - lo) / scale).detach()
        return IntensityObserver(self.segment, lambda s: s * scale + lo), state0

    def rl_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        """A t_max-step stochastic rollout on this batch and its A3C value / policy / entropy terms."""
        features = batch.features if self.cfg.rl_features_grad else batch.features.detach()
        reference, valid = self.space.reference_and_valid(batch.label)
        if self.batch_filter is not None and batch.omega is not None:
            # teacher gate: the voxels DALE drops (ω = 0: disputed, the teacher contradicts the given label) give no
            # reward either, so the head does not learn to restore the label the teacher disputes [ours]
            valid = valid & (first_scale(batch.omega) > 0)
        observer, state0 = self.observer_and_state(batch.data, batch.logits, features)
        result = rollout(self.head, observer, state0, reference, t_max=self.cfg.t_max, gamma=self.cfg.gamma,
                         generator=self.generator, greedy=False, valid_mask=valid,
                         action_scale=self.cfg.action_scale, reward_map=self.reward_map,
                         reward_kwargs=dict(lambda_c=self.cfg.lambda_continuity,
                                            w_local=self.cfg.reward_local_weight,
                                            w_dice=self.cfg.reward_dice_weight))
        losses = a3c_losses(result.log_probs, result.entropies, result.values, result.returns,
                            entropy_weight=self.cfg.entropy_weight, valid_mask=valid)
        return {"value": losses.value, "policy": losses.policy, "entropy": losses.entropy,
                "mean_reward": torch.as_tensor(result.mean_reward).detach()}

    # ------------------------------------------------------------------------------------------ label rounds
    def plan_round(self, plan: RoundPlan, previous_agreement: Optional[float]) -> None:
        """Correct in full RL (not with regions), once the network agreed with the labels in force enough in the
        previous round (``correction_min_agreement``)."""
        if self.stage(plan.epoch) != 2 or self.space.has_regions or not self.cfg.correction_enabled:
            return
        shortfall = agreement_shortfall(previous_agreement, self.cfg.correction_min_agreement)
        if shortfall is not None:
            self.log(f"label round: no corrections yet, {shortfall}")
        plan.correct = shortfall is None

    @property
    def head_trains(self) -> bool:
        """Whether the head ever sees a batch [ours]: without the teacher gate always; under it only when flagged
        cases still enter batches (``flagged_case_sampling`` > 0), since its rollout runs on flagged batches only.
        With the default (0: flagged cases excluded) the head never trains, so its refinement is not asked for and
        :meth:`gated_flips` are the teacher's confident flips alone (they then serve the audit, not the training)."""
        return not self.cfg.case_gate or self.cfg.flagged_case_sampling > 0

    def wants_patch_maps(self, plan: RoundPlan, case: str) -> bool:
        """The refinement is needed in correction rounds, and under the teacher gate only in flagged cases (the
        only ones :meth:`gated_flips` reads it in) and only from a head that trains."""
        return plan.correct and self.head_trains and (self.batch_filter is None or self.batch_filter([case]))

    def patch_maps(self, plan: RoundPlan, x: torch.Tensor, logits: torch.Tensor,
                   features: torch.Tensor) -> dict[str, torch.Tensor]:
        """In a correction round: the agents' greedy refinement of this patch (foreground probabilities)."""
        if not plan.correct:
            return {}
        observer, state0 = self.observer_and_state(x, logits, features)
        refined = refine(self.head, observer, state0, t_max=self.cfg.t_max, action_scale=self.cfg.action_scale)
        if self.cfg.state_mode == "intensity":
            refined = self.segment(observer.to_network_input(refined))[1]
        return {"refined": refined}

    def update_case(self, plan: RoundPlan, case: CaseRound) -> dict:
        """Propose corrections of the label in force from the refined beliefs (:mod:`nnunet_svl.rl.correction`)."""
        if not plan.correct:
            return {}
        if case.flagged is not None:
            before = case.label
            counts = self.gated_flips(case)
            if self.cfg.oracle_gate == "voxel" and case.flagged:
                case.label = self._apply_oracle("voxel", before[0], case.label[0], case, counts)[None]
            return counts
        cfg = self.cfg
        label = case.label
        gate = self.confidence_gate and case.omega is not None
        proposed, stats = propose_corrections(
            label[0], case.maps["refined"], list(self.space.foreground_labels), tau=cfg.correction_tau,
            omega=case.omega[0] if gate else None, omega_gate=cfg.correction_omega_gate if gate else None,
            ignore_label=self.space.ignore_label, connectivity=cfg.correction_connectivity,
            support=case.maps["probs"][self.space.foreground_outputs] if cfg.correction_support > 0 else None,
            support_min=cfg.correction_support, band=cfg.correction_band if cfg.correction_band > 0 else None)
        proposed = np.where(label[0] < 0, label[0], proposed)  # nnU-Net's -1 (outside the mask) stays
        counts = {"flipped": stats.n_flipped, "added": int(sum(stats.added.values())),
                  "removed": int(sum(stats.removed.values())), "rejected": stats.n_rejected_new_components}
        if cfg.oracle_gate in ("case", "voxel"):
            proposed = self._apply_oracle(cfg.oracle_gate, label[0], proposed, case, counts)
        case.label = proposed[None].astype(np.int16)
        return counts

    @staticmethod
    def _apply_oracle(kind: str, label: np.ndarray, proposed: np.ndarray, case: CaseRound, counts: dict) -> np.ndarray:
        """ORACLE ablations: :func:`oracle_gate` against the case's given and clean labels; the reverted changes are
        counted (``oracle_reverted``) and taken off ``flipped``. Returns the kept label (int16)."""
        kept, counts["oracle_reverted"] = oracle_gate(kind, label, proposed, case.reference["given"][0],
                                                      case.reference["clean"][0])
        counts["flipped"] -= counts["oracle_reverted"]
        return kept.astype(np.int16)

    def gated_flips(self, case: CaseRound) -> dict:
        """Teacher gate (METHOD §6): in a flagged case, flip the disputed voxels where the teacher is confident
        (≥ ``teacher_flip_confidence``) and the agents' refined belief picks the same class (when the head trains,
        :attr:`head_trains`); nothing elsewhere."""
        if not case.flagged:
            return {"flipped": 0}
        teacher = case.maps["teacher"]
        confident = teacher.max(0) >= self.cfg.teacher_flip_confidence
        flip = case.disputed & confident & (case.label[0] >= 0)
        if self.head_trains:
            refined = class_probabilities(case.maps["refined"])
            flip &= self.space.classes_array()[refined.argmax(0)] == case.teacher_label
        new = case.label.copy()
        new[0][flip] = case.teacher_label[flip]
        added = int((flip & (case.teacher_label > 0)).sum())
        case.label = new
        return {"flipped": int(flip.sum()), "added": added, "removed": int(flip.sum()) - added}

    # ------------------------------------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict:
        return {"rl_generator": self.generator.get_state(), "rl_generator_device": self.generator.device.type}

    def load_state_dict(self, state: dict) -> None:
        """Restore the rollout generator. A checkpoint written on another device type (CUDA → ``-device cpu``) holds
        a state this generator cannot take: the generator is then re-seeded deterministically from the config seed
        and the stored state's bytes, and the log says so (the rollouts' randomness differs from an uninterrupted run;
        nothing else does)."""
        if "rl_generator" not in state:
            return
        g = state["rl_generator"]
        g = g.cpu() if torch.is_tensor(g) else torch.as_tensor(g, dtype=torch.uint8)
        saved_on = state.get("rl_generator_device", self.generator.device.type)
        if saved_on == self.generator.device.type:
            try:
                self.generator.set_state(g)
                return
            except RuntimeError:
                pass
        seed = (self.cfg.seed + int(g.to(torch.int64).sum().item())) % (2 ** 63)
        self.generator.manual_seed(seed)
        self.log(f"rollout generator: the checkpoint's state was written on {saved_on}, this run uses "
                 f"{self.generator.device.type}; re-seeded with {seed}")
