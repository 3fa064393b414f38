"""The plugin's method trainer: SVL-DRL (METHOD.md §1) and DALE (§2) wired into nnU-Net's hooks.

One implementation, switched by ``SVLConfig.use_rl`` / ``use_dale``; the user-facing trainers
(``nnUNetTrainerVA3C``, ``nnUNetTrainerDALE``, ``nnUNetTrainerSVLDRL`` and their variants, see ``registry.py``) only
set the config. The algorithm lives in ``nnunet_svl.rl`` and ``nnunet_svl.dale``; this module only wires it:

* ``compute_losses`` (every iteration): nnU-Net's Dice+CE, per-voxel weighted by DALE's w = (1−m) + m·ω once fuzzy
  voxels are in (§2.2), plus the class-conditional alignment loss (γ); with RL, a t_max-step vA3C rollout on the
  decoder features and the staged loss (§1.1 "Three stages").
* ``run_label_round`` (every K epochs): whole-case sliding-window inference on this rank's training cases; DALE
  updates the per-voxel loss statistics, ω and the fuzzy membership; SVL-DRL (full-RL stage) rolls the agents out
  greedily and flips voxels of the current label (τ, no new components, gated by low ω with DALE). The result is
  committed to the label store as one round.
"""
from __future__ import annotations

import time
from typing import ClassVar, Optional

import numpy as np
import torch
from torch import nn

from nnunet_svl.runtime.config import epoch_boundary
from nnunet_svl.runtime.distributed import run_synchronised_round
from nnunet_svl.trainers.base import nnUNetTrainerSVLBase, unwrap_module
from nnunet_svl.trainers.case_inference import sliding_window_maps

STAGE_NAMES = ("warmup", "transition", "full_rl")


def agreement_of(totals: dict) -> Optional[float]:
    """2·overlap / (|prediction| + |label|) from a label round's summed counts; None when the round did not measure
    it; 1.0 when both are empty."""
    if "agree_total" not in totals or "agree_overlap" not in totals:
        return None
    total = float(totals["agree_total"])
    return 1.0 if total == 0 else 2.0 * float(totals["agree_overlap"]) / total


def standardise_features(features: torch.Tensor) -> torch.Tensor:
    """(B, F, *sp) → zero mean, unit variance per channel over the batch's voxels (statistics detached)."""
    dims = [0] + list(range(2, features.ndim))
    mean = features.mean(dim=dims, keepdim=True).detach()
    std = features.std(dim=dims, keepdim=True).detach().clamp_min(1e-5)
    return (features - mean) / std


class DecoderFeatureHook:
    """Captures the input of the segmentation network's last segmentation layer: the full-resolution decoder
    features (B, F, *spatial) the vA3C head and the alignment loss are fed with (METHOD §1.2)."""

    def __init__(self, network: nn.Module):
        net = unwrap_module(network)
        try:
            layer = net.decoder.seg_layers[-1]
        except AttributeError:
            raise RuntimeError(f"{type(net).__name__} has no decoder.seg_layers; nnunet_svl's trainers need one of "
                               "nnU-Net's U-Net architectures (PlainConvUNet, ResidualEncoderUNet)") from None
        self.channels = int(layer.in_channels)
        self.features: Optional[torch.Tensor] = None
        self._handle = layer.register_forward_pre_hook(self._grab)

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
        "round_agreement")

    # ------------------------------------------------------------------------------------------ schedule
    @property
    def warmup_end_epoch(self) -> int:
        return epoch_boundary(self.cfg.warmup_end, self.num_epochs)

    @property
    def transition_end_epoch(self) -> int:
        return max(self.warmup_end_epoch, epoch_boundary(self.cfg.transition_end, self.num_epochs))

    @property
    def dale_warmup_end_epoch(self) -> int:
        return epoch_boundary(self.cfg.dale_warmup_end, self.num_epochs)

    def stage(self, epoch: Optional[int] = None) -> int:
        """0 warm-up (segmentation loss only), 1 transition (+ value loss), 2 full RL (+ policy loss, corrections)."""
        epoch = self.current_epoch if epoch is None else epoch
        if not self.cfg.use_rl or epoch < self.warmup_end_epoch:
            return 0
        return 1 if epoch < self.transition_end_epoch else 2

    def fuzzy_voxels_active(self, epoch: Optional[int] = None) -> bool:
        epoch = self.current_epoch if epoch is None else epoch
        return epoch >= self.dale_warmup_end_epoch

    def label_round_due(self, epoch: Optional[int] = None) -> bool:
        """A round ends epoch ``epoch`` every K epochs: of full RL (SVL-DRL) or of training (DALE statistics)."""
        epoch = self.current_epoch if epoch is None else epoch
        k = self.cfg.correction_every
        rounds_done = self.label_store.current_round if self.label_store is not None else 0
        if self.cfg.use_dale:
            rounds_done -= 1  # round 1 is DALE's initial state (given label, ω = 1, boundary membership)
        if self.cfg.correction_max_rounds and rounds_done >= self.cfg.correction_max_rounds:
            return False
        if self.cfg.use_rl and self.stage(epoch) == 2:
            return (epoch + 1 - self.transition_end_epoch) % k == 0
        if self.cfg.use_dale:
            return (epoch + 1) % k == 0
        return False

    # ------------------------------------------------------------------------------------------ setup
    def build_svl_modules(self) -> None:
        from nnunet_svl.dale.weighted_loss import VoxelWeightedDeepSupervisionLoss

        self.feature_hook = DecoderFeatureHook(self.network)
        self.rl_generator = torch.Generator(device=self.device)
        self.rl_generator.manual_seed(self.cfg.seed + 7919 * self.local_rank)
        if self.cfg.use_rl:
            from nnunet_svl.rl.head import VA3CHead

            dim = len(self.configuration_manager.patch_size)
            agents = self.num_agent_channels()
            self.svl_modules["va3c_head"] = VA3CHead(self.feature_hook.channels, agents, dim=dim,
                                                     hidden=self.cfg.head_hidden)
            if self.cfg.reward_map_conv:
                from nnunet_svl.rl.returns import RewardMapConv

                self.svl_modules["reward_map_conv"] = RewardMapConv(dim)
        if self.uses_weight_channels:
            self.weighted_loss = VoxelWeightedDeepSupervisionLoss.like(self.loss)

    def num_agent_channels(self) -> int:
        if self.cfg.state_mode == "intensity":
            return int(self.num_input_channels)
        return len(self.foreground_outputs())

    def foreground_outputs(self) -> list[int]:
        """Output channels whose probability is a foreground belief (regions: all; labels: all but background)."""
        n = self.label_manager.num_segmentation_heads
        return list(range(n)) if self.label_manager.has_regions else list(range(1, n))

    def head(self) -> nn.Module:
        return self.svl_modules["va3c_head"]

    # ------------------------------------------------------------------------------------------ per-iteration loss
    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        return torch.sigmoid(logits) if self.label_manager.has_regions else torch.softmax(logits, 1)

    def _reference_and_valid(self, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """G as foreground one-hot (B, K, *sp) and the mask of voxels with a usable label (B, 1, *sp)."""
        if self.label_manager.has_regions:
            ref = label.float()
            if self.label_manager.ignore_label is not None:
                valid = ref[:, -1:] == 0
                ref = ref[:, :-1]
            else:
                valid = torch.ones_like(ref[:, :1], dtype=torch.bool)
            return ref, valid
        lab = label[:, 0].long()
        valid = lab >= 0
        if self.label_manager.ignore_label is not None:
            valid &= lab != self.label_manager.ignore_label
        fg = [int(c) for c in self.label_manager.foreground_labels]
        ref = torch.stack([(lab == c).float() for c in fg], dim=1)
        return ref, valid[:, None]

    def seg_loss(self, output, labels, omega, fuzzy) -> torch.Tensor:
        if omega is None:
            return self.loss(output, labels)
        active = 1.0 if self.fuzzy_voxels_active() else 0.0
        # one entry per deep-supervision scale (a single tensor when deep supervision is off)
        omega, fuzzy = (x if isinstance(x, (list, tuple)) else [x] for x in (omega, fuzzy))
        labs = labels if isinstance(labels, (list, tuple)) else [labels]
        weights = [((1 - m) + m * w * active).clamp_min(0) for w, m in zip(omega, fuzzy)]
        if self.cfg.class_balance_max_gain > 0:
            from nnunet_svl.dale.weighted_loss import class_balanced_weights

            weights = [class_balanced_weights(w, lab, self.label_manager.num_segmentation_heads,
                                              max_gain=self.cfg.class_balance_max_gain,
                                              ignore_label=self.label_manager.ignore_label)
                       for w, lab in zip(weights, labs)]
        self.record_scalar("dale_weight_mean", float(weights[0].mean()))
        self.record_scalar("dale_omega_mean", float(omega[0].mean()))
        self.record_scalar("dale_omega_min", float(omega[0].min()))
        self.record_scalar("dale_fuzzy_mean", float(fuzzy[0].mean()))
        return self.weighted_loss(output, labs if isinstance(output, (list, tuple)) else labs[0],
                                  weights if isinstance(output, (list, tuple)) else weights[0])

    def compute_losses(self, data, output, labels, omega, fuzzy, keys) -> dict[str, torch.Tensor]:
        features = self.feature_hook.pop()
        seg = self.seg_loss(output, labels, omega, fuzzy)
        losses = {"seg_loss": seg}
        total = seg
        if self.cfg.use_dale and self.fuzzy_voxels_active() and self.cfg.alignment_weight > 0 \
                and fuzzy is not None:
            from nnunet_svl.dale.alignment import class_conditional_alignment_loss

            lab0 = labels[0] if isinstance(labels, list) else labels
            fz0 = fuzzy[0] if isinstance(fuzzy, list) else fuzzy
            # standardised features (per channel, batch statistics, detached): the W2 distance of raw features grew
            # with their scale during a demo run (0.05·186 dominated the loss); standardised it cannot be gamed so
            align = class_conditional_alignment_loss(
                standardise_features(features.float()), lab0[:, 0].long(), fz0[:, 0].float(),
                classes=[0] + [int(c) for c in self.label_manager.foreground_labels],
                min_weight=self.cfg.alignment_min_weight)
            losses["dale_alignment"] = align
            total = total + self.cfg.alignment_weight * align
        stage = self.stage()
        self.record_scalar("svl_stage", stage)
        if stage > 0:
            rl = self.rl_losses(data, output, labels, features)
            losses.update({"rl_mean_reward": rl["mean_reward"], "rl_value_loss": rl["value"],
                           "rl_policy_loss": rl["policy"], "rl_entropy": rl["entropy"]})
            if stage == 1:
                lam = self.cfg.lambda_value_transition
                total = (1 - lam) * total + lam * rl["value"]
            else:
                a, b = self.cfg.alpha_value, self.cfg.beta_policy
                total = (1 - a - b) * total + a * rl["value"] + b * rl["policy"]
        losses["total"] = total
        return losses

    def _observer_and_state(self, data: torch.Tensor, logits: torch.Tensor, features: torch.Tensor):
        from nnunet_svl.rl.rollout import BeliefObserver, IntensityObserver

        if self.cfg.state_mode == "belief":
            state0 = self._probabilities(logits)[:, self.foreground_outputs()].detach()
            return BeliefObserver(features), state0
        # intensity: the state is the input rescaled to [0, 1] per sample and channel; each step re-segments it
        dims = tuple(range(2, data.ndim))
        lo = data.amin(dim=dims, keepdim=True)
        hi = data.amax(dim=dims, keepdim=True)
        scale = (hi - lo).clamp_min(1e-6)
        state0 = ((data - lo) / scale).detach()
        fg = self.foreground_outputs()

        def segment(x: torch.Tensor):
            with torch.no_grad():
                out = self.network(x)
                out = out[0] if isinstance(out, (list, tuple)) else out
                feats = self.feature_hook.pop()
            return feats.detach(), self._probabilities(out)[:, fg]

        return IntensityObserver(segment, lambda s: s * scale + lo), state0

    def rl_losses(self, data, output, labels, features) -> dict[str, torch.Tensor]:
        from nnunet_svl.rl.returns import a3c_losses
        from nnunet_svl.rl.rollout import rollout

        logits = output[0] if isinstance(output, (list, tuple)) else output
        label0 = labels[0] if isinstance(labels, list) else labels
        if not self.cfg.rl_features_grad:
            features = features.detach()
        reference, valid = self._reference_and_valid(label0)
        observer, state0 = self._observer_and_state(data, logits, features)
        result = rollout(self.head(), observer, state0, reference, t_max=self.cfg.t_max, gamma=self.cfg.gamma,
                         generator=self.rl_generator, greedy=False, valid_mask=valid,
                         action_scale=self.cfg.action_scale,
                         reward_map=self.svl_modules["reward_map_conv"] if self.cfg.reward_map_conv else None,
                         reward_kwargs=dict(lambda_c=self.cfg.lambda_continuity,
                                            w_local=self.cfg.reward_local_weight,
                                            w_dice=self.cfg.reward_dice_weight))
        l = a3c_losses(result.log_probs, result.entropies, result.values, result.returns,
                       entropy_weight=self.cfg.entropy_weight, valid_mask=valid)
        return {"value": l.value, "policy": l.policy, "entropy": l.entropy,
                "mean_reward": torch.as_tensor(float(result.mean_reward))}

    # ------------------------------------------------------------------------------------------ label rounds
    def _case_arrays(self, case: str):
        """Preprocessed data (C, *sp) and the label currently in force (1, *sp) for a training case."""
        ds = self.dataset_class(self.preprocessed_dataset_folder, [case],
                                folder_with_segs_from_previous_stage=self.folder_with_segs_from_previous_stage)
        data, seg, seg_prev, _ = ds.load_case(case)
        stored = self.label_store.load(case)
        label = stored.label if stored is not None else np.asarray(seg[:], dtype=np.int16)
        stats = self.label_store.load_stats(case)
        data = np.asarray(data[:], dtype=np.float32)
        if seg_prev is not None:
            # cascade: the network's input is the image plus the previous stage's segmentation, one channel per
            # foreground label, built by the function nnU-Net's predictor uses for it
            from nnunetv2.utilities.label_handling.label_handling import convert_labelmap_to_one_hot

            prev = np.asarray(seg_prev[:])
            prev = prev[0] if prev.ndim == data.ndim else prev
            onehot = convert_labelmap_to_one_hot(prev, self.label_manager.foreground_labels, data.dtype)
            data = np.concatenate([data, onehot], axis=0)
        return data, label.astype(np.int16), stats

    def prepare_label_store(self) -> None:
        """DALE's initial state (fresh runs): the given labels with ω = 1 and the boundary-proximity membership (ER)
        as the only fuzziness evidence before any prediction exists (METHOD §2.2)."""
        if not self.cfg.use_dale or self.label_store is None or self.label_store.current_round > 0:
            return
        from nnunet_svl.dale.partition import boundary_proximity

        def init_case(case: str, round_index: int) -> dict:
            _, label, _ = self._case_arrays(case)
            prox = boundary_proximity(label[0], sigma=self.cfg.fuzzy_sigma)
            self.label_store.stage_case(round_index, case, label, omega=np.ones_like(prox, dtype=np.float32)[None],
                                        fuzzy=prox.astype(np.float32)[None])
            return {}

        run_synchronised_round(self.label_store, self.training_case_ids(), init_case, summary={"kind": "dale_init"})

    def _patch_fn(self, do_rl: bool):
        fg = self.foreground_outputs()

        def fn(x: torch.Tensor) -> dict[str, torch.Tensor]:
            out = self.network(x)
            out = out[0] if isinstance(out, (list, tuple)) else out
            features = self.feature_hook.pop()
            probs = self._probabilities(out)
            maps = {"probs": probs}
            if do_rl:
                from nnunet_svl.rl.rollout import refine

                observer, state0 = self._observer_and_state(x, out, features)
                refined = refine(self.head(), observer, state0, t_max=self.cfg.t_max,
                                 action_scale=self.cfg.action_scale)
                if self.cfg.state_mode == "intensity":
                    refined_out = self.network(observer.to_network_input(refined))
                    refined_out = refined_out[0] if isinstance(refined_out, (list, tuple)) else refined_out
                    self.feature_hook.pop()
                    refined = self._probabilities(refined_out)[:, fg]
                maps["refined"] = refined
            return maps

        return fn

    def run_label_round(self) -> Optional[dict]:
        if self.label_store is None or not (self.cfg.use_rl or self.cfg.use_dale) or not self.label_round_due():
            return None
        do_rl = self.cfg.use_rl and self.stage() == 2 and not self.label_manager.has_regions
        agreement = self.previous_round_agreement()
        ready = self.cfg.correction_min_agreement <= 0 or \
            (agreement is not None and agreement >= self.cfg.correction_min_agreement)
        if do_rl and not ready:
            self.print_to_log_file(f"label round: no corrections yet, the network's agreement with the labels was "
                                   f"{'not measured' if agreement is None else f'{agreement:.3f}'} "
                                   f"(< correction_min_agreement {self.cfg.correction_min_agreement})")
        do_rl = do_rl and ready
        kind = "correction" if do_rl else ("dale_stats" if self.cfg.use_dale else "measure")
        t0 = time.time()
        self.network.eval()
        self.set_deep_supervision_enabled(False)
        try:
            round_index, totals = run_synchronised_round(
                self.label_store, self.training_case_ids(), lambda case, r: self._round_case(case, r, do_rl),
                summary={"kind": kind, "epoch": self.current_epoch})
        finally:
            self.set_deep_supervision_enabled(True)
            self.network.train()
        seconds = time.time() - t0
        self.record_scalar("round_index", round_index)
        for k in ("flipped", "added", "removed", "rejected"):
            self.record_scalar(f"round_{k}", totals.get(k, 0))
        self.record_scalar("round_seconds", seconds)
        measured = agreement_of(totals)
        if measured is not None:
            self.record_scalar("round_agreement", measured)
        self.print_to_log_file(f"label round {round_index} ({kind}): {totals}, {seconds:.1f} s")
        return {"round": round_index, "kind": kind, **totals}

    def previous_round_agreement(self) -> Optional[float]:
        """Foreground Dice between the network's prediction and the labels in force, as the last committed label
        round measured it (None before any round measured it). Read from the label store's manifest, so it
        survives ``--c`` and is the same on every DDP rank."""
        history = self.label_store.history() if self.label_store is not None else []
        return agreement_of(history[-1]) if history else None

    def _round_case(self, case: str, round_index: int, do_rl: bool) -> dict:
        from nnunet_svl.rl.correction import propose_corrections

        data, label, stats = self._case_arrays(case)
        maps = sliding_window_maps(data, self.configuration_manager.patch_size, self._patch_fn(do_rl), self.device)
        probs = maps["probs"]
        counts: dict = self._agreement_counts(label, probs)
        omega = fuzzy = new_stats = None
        if self.cfg.use_dale:
            omega, fuzzy, new_stats = self._dale_update(case, label, probs, stats)
        new_label = label
        if do_rl:
            gate = self.cfg.correction_omega_gate if omega is not None else None
            proposed, cstats = propose_corrections(
                label[0], maps["refined"], [int(c) for c in self.label_manager.foreground_labels],
                tau=self.cfg.correction_tau, omega=omega[0] if omega is not None else None, omega_gate=gate,
                ignore_label=self.label_manager.ignore_label, connectivity=self.cfg.correction_connectivity,
                support=probs[self.foreground_outputs()] if self.cfg.correction_support > 0 else None,
                support_min=self.cfg.correction_support,
                band=self.cfg.correction_band if self.cfg.correction_band > 0 else None)
            proposed = np.where(label[0] < 0, label[0], proposed)  # nnU-Net's -1 (outside the mask) stays
            new_label = proposed[None].astype(np.int16)
            d = cstats.__dict__ if hasattr(cstats, "__dict__") else dict(cstats)
            counts.update({"flipped": int(d.get("n_flipped", 0)),
                      "added": int(sum(d.get("added", {}).values())) if isinstance(d.get("added"), dict) else 0,
                      "removed": int(sum(d.get("removed", {}).values())) if isinstance(d.get("removed"), dict) else 0,
                      "rejected": int(d.get("n_rejected_new_components", 0))})
            if self.cfg.use_dale and counts["flipped"]:
                omega, fuzzy, new_stats = self._dale_after_flip(new_label, label, probs, new_stats)
        self.label_store.stage_case(round_index, case, new_label, omega=omega, fuzzy=fuzzy,
                                    stats=new_stats.to_arrays() if new_stats is not None else None)
        return counts

    def _agreement_counts(self, label: np.ndarray, probs: np.ndarray) -> dict:
        """Foreground overlap of the network's argmax with the label in force (valid voxels, all foreground labels
        together; regions: any region), as sums that add up over cases and DDP ranks."""
        lab = label[0]
        valid = lab >= 0
        if self.label_manager.ignore_label is not None:
            valid &= lab != self.label_manager.ignore_label
        if self.label_manager.has_regions:
            pred_fg = (probs > 0.5).any(axis=0)
            ref_fg = lab > 0
        else:
            pred = probs.argmax(axis=0)
            pred_fg, ref_fg = pred > 0, lab > 0
            same = (pred == lab) & ref_fg
            return {"agree_overlap": int((same & valid).sum()),
                    "agree_total": int((pred_fg & valid).sum() + (ref_fg & valid).sum())}
        return {"agree_overlap": int((pred_fg & ref_fg & valid).sum()),
                "agree_total": int((pred_fg & valid).sum() + (ref_fg & valid).sum())}

    # ------------------------------------------------------------------------------------------ DALE pieces
    def _voxel_loss(self, label: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """Per-voxel cross-entropy of the label currently in force (0 where the label is unusable)."""
        lab = label[0].astype(np.int64)
        valid = lab >= 0
        if self.label_manager.ignore_label is not None:
            valid &= lab != self.label_manager.ignore_label
        idx = np.clip(lab, 0, probs.shape[0] - 1)
        p = np.take_along_axis(probs, idx[None], axis=0)[0]
        return np.where(valid, -np.log(np.clip(p, 1e-6, 1.0)), 0.0).astype(np.float32), valid

    def _dale_maps(self, label, probs, stats, valid) -> tuple[np.ndarray, np.ndarray]:
        """ω from the loss history and the fuzzy membership m of the label in force (METHOD §2.2), (1, *sp) each."""
        from nnunet_svl.dale.confidence import label_confidence
        from nnunet_svl.dale.loss_stats import std
        from nnunet_svl.dale.partition import boundary_proximity, fuzzy_membership, normalised_entropy

        # ω is computed within each label class [ours]: the loss level of a small foreground class is higher than the
        # background's early in training, and one softmax over the whole case down-weighted every lesion voxel until
        # the network predicted background only (seen in a short test run). Per class, ω ranks voxels against others
        # with the same label, and each class keeps mean weight 1.
        mean, spread = stats.mean.astype(np.float32), std(stats).astype(np.float32)
        lab = label[0]
        omega = np.ones(lab.shape, dtype=np.float32)
        for c in np.unique(lab[valid]):
            in_class = valid & (lab == c)
            omega[in_class] = label_confidence(mean, spread, eta=self.cfg.dale_eta, kappa=self.cfg.dale_kappa,
                                               valid_mask=in_class, clip=(0.0, self.cfg.omega_max))[in_class]
        if self.fuzzy_voxels_active(self.current_epoch + 1):
            entropy = normalised_entropy(probs) if not self.label_manager.has_regions else \
                normalised_entropy(np.stack([1 - probs, probs], 0)).mean(0)
        else:
            # during DALE's warm-up the network's entropy is high almost everywhere; the non-fuzzy set is defined by
            # boundary proximity (ER) alone until the fuzzy voxels enter the loss
            entropy = np.zeros(probs.shape[1:], dtype=np.float32)
        fuzzy = fuzzy_membership(entropy, boundary_proximity(label[0], sigma=self.cfg.fuzzy_sigma),
                                 entropy_threshold=self.cfg.fuzzy_entropy_threshold,
                                 temperature=self.cfg.fuzzy_temperature)
        return omega[None].astype(np.float32), fuzzy[None].astype(np.float32)

    def _dale_update(self, case, label, probs, stats):
        """One more round of loss history for the label in force, then its ω and m."""
        from nnunet_svl.dale.loss_stats import LossStats, update_loss_stats

        loss, valid = self._voxel_loss(label, probs)
        prev = LossStats.from_arrays(stats, source=self.label_store.case_file(case, stats=True)) \
            if stats is not None else None
        new = update_loss_stats(prev, loss)
        return (*self._dale_maps(label, probs, new, valid), new)

    def _dale_after_flip(self, new_label, old_label, probs, stats):
        """Flipped voxels restart their loss history at the new label's loss; ω and m are recomputed."""
        from nnunet_svl.dale.loss_stats import reset_voxels

        loss, valid = self._voxel_loss(new_label, probs)
        stats = reset_voxels(stats, new_label[0] != old_label[0], loss)
        return (*self._dale_maps(new_label, probs, stats, valid), stats)

    # ------------------------------------------------------------------------------------------ checkpoint state
    def svl_state_dict(self) -> dict:
        state = super().svl_state_dict()
        # the stage of the epoch a resume starts with (the checkpoint's current_epoch)
        state.update({"stage": self.stage(self.current_epoch + 1), "rl_generator": self.rl_generator.get_state()})
        return state

    def load_svl_state_dict(self, state: dict) -> None:
        super().load_svl_state_dict(state)
        if "rl_generator" in state:
            self.rl_generator.set_state(state["rl_generator"].cpu() if torch.is_tensor(state["rl_generator"])
                                        else state["rl_generator"])
