"""The method trainer: wiring of method parts into nnU-Net's hooks (docs/ARCHITECTURE.md).

``nnUNetTrainerSVLMethod`` holds a list of parts built from its config (:meth:`method_parts`):

* ``use_dale`` → :class:`nnunet_svl.dale.part.DalePart` (ω-weighted loss, alignment, loss-history rounds; METHOD §2);
* ``use_rl`` → :class:`nnunet_svl.rl.part.VA3CPart` (head, staged losses, correction rounds; METHOD §1), with DALE's
  confidence handed to its correction gate when both are on (``nnUNetTrainerSVLDRL``);
* ``case_gate`` (default; off in the ``_Paper`` ablations) → :class:`nnunet_svl.teacher.part.TeacherGatePart` first
  (EMA teacher, per-case noise flags, docs/METHOD.md §6); batches without a flagged case then train with nnU-Net's
  own loss, so a run that flags nothing ends with nnUNetTrainer's weights (tests/test_no_harm.py).

Hooks: ``build_svl_modules`` (the parts' modules, outside ``self.network``), ``compute_losses`` (every iteration:
nnU-Net's loss or a part's replacement, then each part's terms), ``prepare_label_store`` / ``run_label_round`` (the
:class:`nnunet_svl.parts.label_round.LabelRoundEngine`), checkpoint state. The user-facing trainer classes are in
``registry.py``.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar, Optional

import numpy as np
import torch
from torch import nn

from nnunet_svl.dale.part import DalePart
from nnunet_svl.edge.part import EdgeRepairPart
from nnunet_svl.parts.base import Batch, CaseRound, LabelSpace, MethodPart
from nnunet_svl.parts.label_round import LabelRoundEngine, agreement_of
from nnunet_svl.parts.voxels import first_scale, select_channels
from nnunet_svl.rl.part import VA3CPart
from nnunet_svl.runtime.distributed import all_gather_list
from nnunet_svl.teacher.part import TeacherGatePart
from nnunet_svl.runtime.seeding import train_seed_from_env
from nnunet_svl.trainers.base import nnUNetTrainerSVLBase, unwrap_module
from nnunet_svl.trainers.case_inference import sliding_window_maps_many
from nnunet_svl.runtime.errors import SVLInputError
from nnunet_svl.trainers.diagnostics import CLEAN_LABELS_ENV_VAR, QUALITY_KEYS

__all__ = ["nnUNetTrainerSVLMethod", "DecoderFeatureHook", "agreement_of"]


class DecoderFeatureHook:
    """Captures the input of the segmentation network's last segmentation layer: the full-resolution decoder
    features (B, F, *spatial) the vA3C head and the alignment loss are fed with (METHOD §1.2)."""

    def __init__(self, network: nn.Module):
        layer = self.last_layer(network)
        self.channels = int(layer.in_channels)
        self.features: Optional[torch.Tensor] = None
        self._handle = layer.register_forward_pre_hook(self._grab)

    @staticmethod
    def last_layer(network: nn.Module) -> nn.Module:
        net = unwrap_module(network)
        try:
            return net.decoder.seg_layers[-1]
        except AttributeError:
            raise RuntimeError(f"{type(net).__name__} has no decoder.seg_layers; nnunet_svl's trainers need one of "
                               "nnU-Net's U-Net architectures (PlainConvUNet, ResidualEncoderUNet)") from None

    def _grab(self, module, inputs):
        self.features = inputs[0]

    def pop(self) -> torch.Tensor:
        f, self.features = self.features, None
        if f is None:
            raise RuntimeError("decoder features were not captured in this forward pass")
        return f


class nnUNetTrainerSVLMethod(nnUNetTrainerSVLBase):
    svl_log_keys: ClassVar[tuple[str, ...]] = (
        "svl_stage", "seg_loss", "rl_mean_reward", "rl_value_loss", "rl_policy_loss", "rl_entropy",
        "dale_weight_mean", "dale_omega_mean", "dale_omega_min", "dale_fuzzy_mean", "dale_alignment",
        "round_index", "round_flipped", "round_added", "round_removed", "round_rejected", "round_seconds",
        "round_agreement") + QUALITY_KEYS

    # ------------------------------------------------------------------------------------------ parts
    def method_parts(self) -> list[MethodPart]:
        """In round order: the edge repair (``edge_repair``: the given label moved to the image edge), the teacher gate
        (``case_gate``: it resets each case to its given label and flags it), DALE
        (its ω is in the case when vA3C's correction gate reads it), then vA3C."""
        space = self.label_space
        parts: list[MethodPart] = []
        if self.cfg.edge_repair:          # first: every later part sees the repaired label as the given one
            edge = EdgeRepairPart(self.cfg, space, spacing=self.configuration_manager.spacing, gather=all_gather_list)
            edge.log = self.print_to_log_file
            parts.append(edge)
        if self.cfg.case_gate:
            # which moved labels' label-qa flags are withdrawn: every moved label's, or only those the repair brought
            # to the image's edge (label_qa_withdraw_only_reached)
            withdraws = None
            if self.cfg.edge_repair:
                withdraws = edge.reached_edge if self.cfg.label_qa_withdraw_only_reached else edge.moves
            gate = TeacherGatePart(self.cfg, space, self.num_epochs, self.network_module, gather=all_gather_list,
                                   prior_flags=self.label_qa_prior(),
                                   edge_fit=edge.fits.get if self.cfg.edge_repair else None,
                                   edge_moves=withdraws)
            gate.log = self.print_to_log_file
            parts.append(gate)
        if self.cfg.use_dale:
            dale = DalePart(self.cfg, space, self.num_epochs,
                            base_loss=self.loss if self.uses_weight_channels else None)
            if self.cfg.case_gate:
                dale.batch_filter = gate.touches   # batches without a flagged case: nnU-Net's loss, unchanged
            parts.append(dale)
        if self.cfg.use_rl:
            va3c = VA3CPart(self.cfg, space, self.num_epochs, DecoderFeatureHook.last_layer(self.network).in_channels,
                            dim=len(self.configuration_manager.patch_size),
                            num_input_channels=int(self.num_input_channels), device=self.device,
                            rank=self.local_rank, segment=self._segment,
                            confidence_gate=self.cfg.use_dale and not self.cfg.case_gate,
                            seed_offset=train_seed_from_env() or 0)
            va3c.log = self.print_to_log_file
            if self.cfg.case_gate:
                va3c.batch_filter = gate.touches   # the head's rollout only on batches with a flagged case
            parts.append(va3c)
        for part in parts:
            part.record = self.record_scalar
        return parts

    def label_qa_prior(self) -> frozenset:
        """The cases ``label_qa`` (config) flagged before training; empty when it is off."""
        if not self.cfg.label_qa:
            return frozenset()
        from nnunetv2.paths import nnUNet_results

        from nnunet_svl.qa.prior import label_qa_flags

        flagged, path = label_qa_flags(self.cfg.label_qa, self.plans_manager.dataset_name,
                                       Path(nnUNet_results) if nnUNet_results else None)
        self.print_to_log_file(f"label QA prior: {len(flagged)} cases flagged before training {sorted(flagged)} "
                               f"(from {path})")
        return flagged

    def part(self, kind: type) -> Optional[MethodPart]:
        return next((p for p in self.parts if isinstance(p, kind)), None)

    def build_svl_modules(self) -> None:
        if self.cfg.oracle_gate != "none" and not self.diagnostics_enabled:
            raise SVLInputError(CLEAN_LABELS_ENV_VAR, f"{type(self).__name__} is an ORACLE ablation: it needs the "
                                "clean training labels", "set it to the clean label folder (nnunet-svl benchmark "
                                "does) or train a trainer without 'Oracle' in its name")
        self.label_space = LabelSpace.of(self.label_manager)
        self._round_given: Optional[dict[str, np.ndarray]] = None
        # parts first: the teacher is a copy of the network and must not copy the feature hook registered after it
        self.parts = self.method_parts()
        self.feature_hook = DecoderFeatureHook(self.network)
        gate = self.part(TeacherGatePart)
        self.teacher_feature_hook = DecoderFeatureHook(gate.teacher.model) if gate is not None else None
        if gate is not None:
            gate.round_network_is_teacher = True
        for part in self.parts:
            for name, module in part.build_modules().items():
                self.svl_modules[name] = module
        self.round_engine = LabelRoundEngine(self.parts, self.label_store, self.label_space,
                                             max_rounds=self.cfg.correction_max_rounds) \
            if self.label_store is not None else None

    def stage(self, epoch: Optional[int] = None) -> int:
        """SVL-DRL's stage (0 warm-up, 1 transition, 2 full RL); 0 without vA3C."""
        va3c = self.part(VA3CPart)
        return va3c.stage(self.current_epoch if epoch is None else epoch) if va3c is not None else 0

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Network logits at full resolution and the decoder features of that pass."""
        return first_scale(self.network(x)), self.feature_hook.pop()

    def _forward_teacher(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The teacher gate's label rounds [ours, overhead]: the EMA teacher's logits and decoder features. The rounds
        then cost one forward pass per patch instead of two, and what they measure (DALE's loss history, the agreement
        criterion, the refinement's starting belief) is the teacher's, which is smoother than the network's."""
        return self.part(TeacherGatePart).forward(x), self.teacher_feature_hook.pop()

    def _segment(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(decoder features, foreground probabilities) of ``x``, no gradient: vA3C's ``intensity`` state mode."""
        with torch.no_grad():
            logits, features = self._forward(x)
        return features.detach(), select_channels(self.label_space.probabilities(logits),
                                                  self.label_space.foreground_outputs)

    # ------------------------------------------------------------------------------------------ per iteration
    def compute_losses(self, data, output, labels, omega, fuzzy, keys) -> dict[str, torch.Tensor]:
        batch = Batch(data=data, output=output, labels=labels, omega=omega, fuzzy=fuzzy,
                      features=self.feature_hook.pop(), keys=keys, epoch=self.current_epoch)
        seg = next((s for s in (p.segmentation_loss(batch) for p in self.parts) if s is not None), None)
        if seg is None:
            seg = self.loss(output, labels)
        losses = {"seg_loss": seg}
        total = seg
        for part in self.parts:
            total = part.add_loss_terms(batch, total, losses)
        self.record_scalar("svl_stage", float(self.stage()))
        losses["total"] = total
        return losses

    # ------------------------------------------------------------------------------------------ label rounds
    def _case_arrays(self, case: str):
        """Preprocessed data (C, *sp), the label currently in force (1, *sp) and DALE's stored loss statistics."""
        data, given = self.preprocessed_case(case)
        if self._round_given is not None:        # in a label round: read once per case (see _references)
            self._round_given[case] = given
        stored = self.label_store.load(case)
        label = stored.label if stored is not None else given
        return data, label.astype(np.int16), self.label_store.load_stats(case)

    def _infer_many(self, datas: list, patch_fn) -> list[dict[str, np.ndarray]]:
        return sliding_window_maps_many(datas, self.configuration_manager.patch_size, patch_fn, self.device,
                                        tile_batch=self.cfg.round_tile_batch)

    def prepare_label_store(self) -> None:
        """The parts' initial rounds on a fresh run (DALE: the given labels with ω = 1 and boundary membership)."""
        if self.round_engine is not None:
            self.round_engine.initialise(self.training_case_ids(), self._case_arrays)

    def run_label_round(self) -> Optional[dict]:
        if self.round_engine is None:
            return None
        plan = self.round_engine.plan(self.current_epoch)
        if plan is None:
            return None
        t0 = time.time()
        had_ds = self.deep_supervision_enabled()
        reads_references = self.cfg.oracle_gate != "none" or self.cfg.case_gate
        # the given labels the round's references read (popped there); only kept when references are read
        self._round_given = {} if reads_references else None
        self.network.eval()
        self.set_deep_supervision_enabled(False)
        try:
            round_index, totals = self.round_engine.run(plan, self.training_case_ids(), self._case_arrays,
                                                        None, self._forward_teacher
                                                        if self.teacher_feature_hook is not None else self._forward,
                                                        self._observe_case if self.diagnostics_enabled else None,
                                                        self._references if reads_references else None,
                                                        infer_many=self._infer_many,
                                                        group_voxels=self.cfg.round_tile_batch
                                                        * int(np.prod(self.configuration_manager.patch_size)))
        finally:
            self._round_given = None
            self.set_deep_supervision_enabled(had_ds)   # the trainer's state, not forced on
            self.network.train()
        seconds = time.time() - t0
        self.finish_round_quality(round_index, plan.kind)
        self.record_scalar("round_index", round_index)
        for k in ("flipped", "added", "removed", "rejected"):
            self.record_scalar(f"round_{k}", totals.get(k, 0))
        self.record_scalar("round_seconds", seconds)
        measured = agreement_of(totals)
        if measured is not None:
            self.record_scalar("round_agreement", measured)
        self.print_to_log_file(f"label round {round_index} ({plan.kind}): {totals}, {seconds:.1f} s")
        return {"round": round_index, "kind": plan.kind, **totals}

    def _references(self, case: str) -> dict:
        """The given label (teacher gate) and, for ORACLE ablations only, the clean label of a training case."""
        cached = (self._round_given or {}).pop(case, None)
        refs = {"given": cached if cached is not None else self.given_label(case)}
        if self.cfg.oracle_gate != "none":
            refs["clean"] = self.clean_label(case)
        return refs

    def after_optimizer_step(self) -> None:
        for part in self.parts:
            part.after_step(self.network_module)

    def _observe_case(self, plan, case: CaseRound, before: np.ndarray, counts: dict) -> None:
        """Diagnostics: the round's labels against the clean ones; per-case noise score = the teacher gate's score
        or, without a gate, 1 − the network's agreement with the label in force at the round's start."""
        agreement = agreement_of(counts)
        gate = self.part(TeacherGatePart)
        score = gate.last_score(case.case) if gate is not None else (None if agreement is None else 1.0 - agreement)
        edge = self.part(EdgeRepairPart)
        self.observe_round_case(case.case, before, case.label, case.omega, score, flagged=case.flagged,
                                repaired=edge.moves(case.case) if edge is not None else None)

    # ------------------------------------------------------------------------------------------ checkpoint state
    def svl_state_dict(self) -> dict:
        state = super().svl_state_dict()
        # the stage of the epoch a resume starts with (the checkpoint's current_epoch)
        state["stage"] = self.stage(self.current_epoch + 1)
        for part in self.parts:
            state.update(part.state_dict())
        return state

    def load_svl_state_dict(self, state: dict) -> None:
        super().load_svl_state_dict(state)
        for part in self.parts:
            part.load_state_dict(state)
