"""The base trainer every method of the plugin shares (docs/METHOD.md §1.2, §2.2, §3).

:class:`nnUNetTrainerSVLBase` is a thin subclass of nnU-Net's ``nnUNetTrainer`` that adds

* one typed config (:class:`nnunet_svl.runtime.config.SVLConfig`): class attribute ``svl_config``, overridable by subclass
  variants and by the JSON file named in ``NNUNET_SVL_CONFIG``; written to the training log and every checkpoint;
* the per-run, per-fold :class:`~nnunet_svl.runtime.label_store.LabelStore`, which the training data loader reads instead of the
  given label when it holds a corrected one (and, with DALE, the per-voxel weight channels);
* extra trainable modules (``self.svl_modules``, e.g. the vA3C head) that live outside ``self.network`` so that the stock
  ``nnUNetv2_predict`` loads ``network_weights`` unchanged; they are saved under the checkpoint key ``svl_modules``;
* extra checkpoint state (``svl_state``: label-store round, stage, ...) that survives ``--c``; checkpoints are written
  atomically;
* benchmark diagnostics when clean labels are known (``NNUNET_SVL_CLEAN_LABELS``, :mod:`.diagnostics`);
* per-epoch logging of method scalars (kept in nnU-Net's logger, so they survive ``--c``) and ``progress_svl.png``;
* hooks for subclasses: :meth:`build_svl_modules`, :meth:`compute_losses`, :meth:`run_label_round`.

The budget of short variants (epochs, iterations) is set by class attributes, the nnU-Net way.
"""
from __future__ import annotations

import os
from collections import defaultdict
from time import time
from typing import ClassVar, Optional

import torch
from batchgenerators.utilities.file_and_folder_operations import join
from batchgeneratorsv2.transforms.spatial.spatial import SpatialTransform
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
from nnunetv2.utilities.helpers import dummy_context
from torch import autocast, nn
from torch import distributed as dist
from torch._dynamo import OptimizedModule

from nnunet_svl.runtime.atomic_io import atomic_torch_save
from nnunet_svl.runtime.config import SVLConfig, resolve_config
from nnunet_svl.runtime.distributed import all_mean, average_gradients
from nnunet_svl.runtime.errors import SVLInputError
from nnunet_svl.runtime.label_store import LabelStore
from nnunet_svl.runtime.seeding import apply_train_seed, train_seed_from_env
from nnunet_svl.parts.voxels import as_scales, like
from nnunet_svl.trainers.budgets import BudgetInferenceMixin, apply_budget
from nnunet_svl.trainers.diagnostics import MEMORISATION_KEYS, DiagnosticsMixin
from nnunet_svl.trainers.data import (NUM_WEIGHT_CHANNELS, STORE_DATASET_FOR, StoreAwareDataLoader,
                                      WeightChannelSpatialTransform,
                                      decode_weight_channel)

SVL_STATE_VERSION = 1


def unwrap_module(module: nn.Module) -> nn.Module:
    """Strip DDP and torch.compile wrappers."""
    if isinstance(module, nn.parallel.DistributedDataParallel):
        module = module.module
    if isinstance(module, OptimizedModule):
        module = module._orig_mod
    return module


class nnUNetTrainerSVLBase(BudgetInferenceMixin, DiagnosticsMixin, nnUNetTrainer):
    svl_config: ClassVar[SVLConfig] = SVLConfig()
    # budget of short variants (a key of nnunet_svl.trainers.budgets.BUDGETS); None keeps nnU-Net's defaults
    svl_budget: ClassVar[Optional[str]] = None
    # per-epoch scalars this trainer logs (one value every epoch, so nnU-Net's logger stays aligned)
    svl_log_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device('cuda')):
        super().__init__(plans, configuration, fold, dataset_json, device)
        if self.svl_budget is not None:
            apply_budget(self, self.svl_budget)      # also seeds from NNUNET_SVL_TRAIN_SEED when set
        else:
            apply_train_seed()
        self.cfg: SVLConfig = resolve_config(self.svl_config)
        self.label_store: Optional[LabelStore] = \
            LabelStore(join(self.output_folder, "label_store"), patch_size=self.configuration_manager.patch_size) \
            if self.output_folder is not None else None
        self.svl_modules = nn.ModuleDict()
        self._resumed = False
        self._training_finished = False
        self._epoch_scalars: dict[str, list] = defaultdict(list)
        self._last_progress_plot: Optional[float] = None   # time() of the last progress_svl.png
        for key in self.svl_log_keys:
            self.logger.local_logger.my_fantastic_logging.setdefault(key, [])
        self._init_diagnostics()
        self.print_to_log_file(f"nnunet_svl config ({type(self).__name__}): {self.cfg.to_dict()}",
                               also_print_to_console=False)

    # ------------------------------------------------------------------------------------------ properties
    @property
    def uses_weight_channels(self) -> bool:
        """DALE weights travel with the label as extra segmentation channels (not for region-based training,
        whose target conversion keeps only the label channel)."""
        return self.cfg.use_dale and not self.label_manager.has_regions

    @property
    def network_module(self) -> nn.Module:
        return unwrap_module(self.network)

    def deep_supervision_enabled(self) -> bool:
        """Whether the network returns the deep-supervision list (the flag nnU-Net's set_deep_supervision_enabled
        sets on the decoder)."""
        return bool(getattr(getattr(self.network_module, "decoder", None), "deep_supervision", False))

    # ------------------------------------------------------------------------------------------ setup
    def _do_i_compile(self):
        # The methods read decoder features through forward hooks, which torch.compile would trace around.
        return False

    def initialize(self):
        super().initialize()
        # the plugin's modules are initialised from their own generator: the global one (nnU-Net's data order and
        # augmentation draw from it) stays where it would be in nnUNetTrainer, so a case the method leaves alone
        # sees the same batches as with nnU-Net [ours, no harm by construction]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.cfg.seed + (train_seed_from_env() or 0))
            self.build_svl_modules()
        self.svl_modules.to(self.device)
        if any(True for _ in self.svl_modules.parameters()):
            self.optimizer, self.lr_scheduler = self.configure_optimizers()
        self.logger.update_config({"svl_config": self.cfg.to_dict()})

    def build_svl_modules(self) -> None:
        """Subclasses add their extra trainable modules to ``self.svl_modules`` here."""

    def configure_optimizers(self):
        optimizer, lr_scheduler = super().configure_optimizers()
        # trainable extra modules only (the EMA teacher's weights are frozen and move by averaging)
        extra = [p for p in self.svl_modules.parameters() if p.requires_grad] if hasattr(self, "svl_modules") else []
        if extra:
            optimizer.add_param_group({"params": extra})
        return optimizer, lr_scheduler

    def get_tr_and_val_datasets(self):
        dataset_tr, dataset_val = super().get_tr_and_val_datasets()
        store_cls = STORE_DATASET_FOR[type(dataset_tr)]
        dataset_tr = store_cls(self.preprocessed_dataset_folder, list(dataset_tr.identifiers),
                               folder_with_segs_from_previous_stage=self.folder_with_segs_from_previous_stage)
        dataset_tr.attach(self.label_store, self.uses_weight_channels,
                          keep_excluded=self.cfg.flagged_case_sampling if self.cfg.case_gate else 1.0)
        return dataset_tr, dataset_val

    def get_dataloaders(self):
        """nnU-Net's data loaders, built with :class:`StoreAwareDataLoader` (the teacher gate's thinning at the draw,
        so that ``batch['keys']`` are the cases served). nnU-Net's ``get_dataloaders`` names the loader class through
        its module; it is swapped for the duration of the call only."""
        import nnunetv2.training.nnUNetTrainer.nnUNetTrainer as nnunet_trainer_module

        original = nnunet_trainer_module.nnUNetDataLoader
        nnunet_trainer_module.nnUNetDataLoader = StoreAwareDataLoader
        try:
            return super().get_dataloaders()
        finally:
            nnunet_trainer_module.nnUNetDataLoader = original

    def get_training_transforms(self, *args, **kwargs):
        transforms = nnUNetTrainer.get_training_transforms(*args, **kwargs)
        if self.uses_weight_channels:
            transforms.transforms = [
                WeightChannelSpatialTransform.from_spatial_transform(t, NUM_WEIGHT_CHANNELS)
                if isinstance(t, SpatialTransform) else t for t in transforms.transforms]
        return transforms

    def do_split(self):
        """nnU-Net's split, but a dataset too small for its 5-fold cross-validation is a clear error naming the
        split file and the fix (nnU-Net itself fails inside scikit-learn's KFold)."""
        if self.fold != "all":
            from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class
            splits_file = join(self.preprocessed_dataset_folder_base, "splits_final.json")
            if not os.path.isfile(splits_file):
                n = len(infer_dataset_class(self.preprocessed_dataset_folder).get_identifiers(
                    self.preprocessed_dataset_folder))
                if n < 5:
                    raise SVLInputError(
                        splits_file, f"the dataset has {n} training case(s), too few for nnU-Net's 5-fold "
                        f"cross-validation (fold {self.fold} was asked for)",
                        "train fold 'all' (nnUNetv2_train DATASET CONFIGURATION all ...) or write your own "
                        "splits_final.json")
        return super().do_split()

    def training_case_ids(self) -> list[str]:
        if getattr(self, "_training_case_ids", None) is None:
            tr_keys, _ = self.do_split()
            self._training_case_ids = sorted(tr_keys)
        return list(self._training_case_ids)

    # ------------------------------------------------------------------------------------------ training
    def split_target(self, target):
        """Separate label channels from DALE weight channels: (labels, omega, fuzzy); the latter two are None
        without weight channels. Each is a list over deep-supervision scales (or a single tensor)."""
        if not self.uses_weight_channels:
            return target, None, None
        targets = as_scales(target)
        n = NUM_WEIGHT_CHANNELS
        labels = [t[:, :-n] for t in targets]
        omega = [decode_weight_channel(t[:, -n:-n + 1], neutral=1.0) for t in targets]
        fuzzy = [decode_weight_channel(t[:, -1:], neutral=0.0) for t in targets]
        return like(labels, target), like(omega, target), like(fuzzy, target)

    def compute_losses(self, data: torch.Tensor, output, labels, omega, fuzzy, keys) -> dict[str, torch.Tensor]:
        """All loss terms of one iteration; ``total`` is optimised, the others are logged (means per epoch)."""
        return {"total": self.loss(output, labels)}

    def train_step(self, batch: dict) -> dict:
        data = batch["data"].to(self.device, non_blocking=True)
        target = batch["target"]
        target = like([t.to(self.device, non_blocking=True) for t in as_scales(target)], target)
        labels, omega, fuzzy = self.split_target(target)

        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device.type, enabled=True) if self.device.type == "cuda" else dummy_context():
            output = self.network(data)
            losses = self.compute_losses(data, output, labels, omega, fuzzy, batch.get("keys"))
        total = losses["total"]
        if self.grad_scaler is not None:
            self.grad_scaler.scale(total).backward()
            self.grad_scaler.unscale_(self.optimizer)
            self._clip_gradients()
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        else:
            total.backward()
            self._clip_gradients()
            self.optimizer.step()
        self.after_optimizer_step()
        for k, v in losses.items():
            if k != "total":
                self.record_scalar(k, v)
        return {"loss": total.detach().cpu().numpy()}

    def _clip_gradients(self) -> None:
        """nnU-Net's clipping (norm 12). When the plugin's losses reach the network (the paper's shared features,
        ``rl_features_grad`` on), network and plugin modules are clipped *together*, as before: clipping the network
        alone let the RL gradients through at full strength and the demo run collapsed to background at the start of
        the transition stage (tests/test_e2e.py, Dice 0.0). With detached head features [ours, no harm] they are
        clipped separately, so a head's large gradients cannot shrink the network's step."""
        extra = [p for p in self.svl_modules.parameters() if p.requires_grad]
        if self.is_ddp:
            average_gradients(extra)     # DDP synchronises self.network only; the head must stay the same on all ranks
        if not extra or self.cfg.rl_features_grad:
            torch.nn.utils.clip_grad_norm_(list(self.network.parameters()) + extra, 12)
            return
        torch.nn.utils.clip_grad_norm_(self.network.parameters(), 12)
        torch.nn.utils.clip_grad_norm_(extra, 12)

    def after_optimizer_step(self) -> None:
        """Hook: after every optimiser step (e.g. an EMA update)."""

    def record_scalar(self, key: str, value) -> None:
        """Record a scalar for this epoch's mean. Tensors are kept on their device (detached) and read once at the
        end of the epoch, so logging costs no host synchronisation in the training step."""
        self._epoch_scalars[key].append(value.detach() if torch.is_tensor(value) else float(value))

    def _epoch_floats(self) -> dict[str, list[float]]:
        """Every key's recorded values as floats, with ONE device-to-host copy for all tensors of the epoch."""
        keys = list(self._epoch_scalars)
        tensors = [(k, v) for k in keys for v in self._epoch_scalars[k] if torch.is_tensor(v)]
        out = {k: [v for v in self._epoch_scalars[k] if not torch.is_tensor(v)] for k in keys}
        if tensors:
            host = torch.stack([v.detach().float().reshape(()).to(tensors[0][1].device) for _, v in tensors]).cpu()
            for (k, _), value in zip(tensors, host.tolist()):
                out[k].append(value)
        return out

    def _log_epoch_scalars(self) -> None:
        """One value per key and epoch (nnU-Net's logger needs that); means are taken over all DDP ranks."""
        floats = self._epoch_floats()
        for key in self.svl_log_keys:
            mean = all_mean(floats.get(key, []))
            self.logger.log(key, float("nan") if mean is None else float(mean), self.current_epoch)
        self._epoch_scalars.clear()

    # ------------------------------------------------------------------------------------------ epochs
    def on_train_start(self):
        if not self.was_initialized:
            self.initialize()
        if self.local_rank == 0 and self.label_store is not None and not self._resumed:
            # a fresh run (no --c) starts from the given annotation, whatever an earlier run left behind
            self.label_store.restore_round(0)
        if self.is_ddp:
            dist.barrier()
        self.prepare_label_store()
        super().on_train_start()

    def prepare_label_store(self) -> None:
        """Hook: populate the label store before the data loaders start (e.g. DALE's initial weights)."""

    def run_label_round(self) -> Optional[dict]:
        """Hook: run a label round (correction / statistics) at the end of this epoch if one is due; return its
        summary, or None when none ran."""
        return None

    def on_epoch_end(self):
        ran = self.run_label_round()
        self._log_epoch_scalars()
        super().on_epoch_end()
        if ran is not None:
            # checkpoint right after each committed round so that a resume sees a store in step with the weights
            self.current_epoch -= 1
            self.save_checkpoint(join(self.output_folder, "checkpoint_latest.pth"))
            self.current_epoch += 1
        if self.local_rank == 0 and self.svl_log_keys and self._progress_plot_due():
            from nnunet_svl.runtime.plots import plot_training_curves
            try:
                plot_training_curves(self.logger.local_logger.my_fantastic_logging, self.svl_log_keys,
                                     join(self.output_folder, "progress_svl.png"),
                                     combined={"memorisation (Dice of the prediction)": MEMORISATION_KEYS})
            except Exception as e:  # plotting must never stop training
                self.print_to_log_file(f"progress_svl.png not written: {e}")
            self._last_progress_plot = time()

    def on_train_end(self):
        super().on_train_end()
        self._training_finished = True

    def _progress_plot_due(self) -> bool:
        """After the first and the last epoch, and otherwise every ``progress_plot_interval_s`` seconds (config)."""
        # nnU-Net's on_epoch_end has already advanced current_epoch
        if self.current_epoch <= 1 or self.current_epoch >= self.num_epochs:
            return True
        last = self._last_progress_plot
        return last is None or time() - last >= self.cfg.progress_plot_interval_s

    # ------------------------------------------------------------------------------------------ checkpoints
    def svl_state_dict(self) -> dict:
        return {"version": SVL_STATE_VERSION,
                "label_store_round": self.label_store.current_round if self.label_store is not None else 0}

    def load_svl_state_dict(self, state: dict) -> None:
        if self.label_store is not None:
            if self.local_rank == 0:
                self.label_store.restore_round(int(state.get("label_store_round", 0)))
            if self.is_ddp:
                dist.barrier()

    def save_checkpoint(self, filename: str) -> None:
        if self.local_rank != 0:
            return
        if self.disable_checkpointing:
            self.print_to_log_file('No checkpoint written, checkpointing is disabled')
            return
        checkpoint = {
            'network_weights': self.network_module.state_dict(),
            'optimizer_state': self.optimizer.state_dict(),
            'grad_scaler_state': self.grad_scaler.state_dict() if self.grad_scaler is not None else None,
            'logging': self.logger.get_checkpoint(),
            '_best_ema': self._best_ema,
            'current_epoch': self.current_epoch + 1,
            'init_args': self.my_init_kwargs,
            'trainer_name': self.__class__.__name__,
            'inference_allowed_mirroring_axes': self.inference_allowed_mirroring_axes,
            # plugin state, kept out of network_weights so the stock predictor loads the checkpoint unchanged
            'svl_config': self.cfg.to_dict(),
            'svl_state': self.svl_state_dict(),
            'svl_modules': unwrap_module(self.svl_modules).state_dict(),
        }
        atomic_torch_save(filename, checkpoint)

    def load_checkpoint(self, filename_or_checkpoint) -> None:
        if not isinstance(filename_or_checkpoint, (str, os.PathLike)):
            raise TypeError("nnunet_svl trainers load checkpoints from a path")
        path = str(filename_or_checkpoint)
        if not self.was_initialized:
            self.initialize()
        try:
            checkpoint = torch.load(path, map_location=self.device, weights_only=False)
        except torch.cuda.OutOfMemoryError:
            raise SVLInputError(path, f"loading the checkpoint ran out of memory on {self.device}",
                                "free the GPU (other processes) or resume on another device") from None
        except Exception as e:
            raise SVLInputError(path, f"checkpoint cannot be read ({type(e).__name__}: {str(e)[:80]})",
                                "delete this file and resume from another checkpoint, or train without --c") from None
        if not isinstance(checkpoint, dict) or 'network_weights' not in checkpoint:
            raise SVLInputError(path, "is not an nnU-Net checkpoint (no 'network_weights')",
                                "pass a checkpoint written by nnUNetv2_train")
        writer = checkpoint.get('trainer_name')
        if writer != self.__class__.__name__ or 'svl_state' not in checkpoint:
            raise SVLInputError(path, f"checkpoint was written by trainer {writer!r}, not {self.__class__.__name__}",
                                f"resume with -tr {writer} or start {self.__class__.__name__} without --c")
        try:
            super().load_checkpoint(path)
            unwrap_module(self.svl_modules).load_state_dict(checkpoint.get('svl_modules', {}))
        except torch.cuda.OutOfMemoryError:
            raise SVLInputError(path, f"loading the checkpoint ran out of memory on {self.device}",
                                "free the GPU (other processes) or resume on another device") from None
        except (RuntimeError, KeyError) as e:
            raise SVLInputError(path, f"checkpoint does not fit this network/plans ({str(e).splitlines()[0][:100]})",
                                "resume with the same plans, configuration and trainer that wrote it") from None
        if self._training_finished:
            # nnU-Net's --val_best reloads checkpoint_best.pth after training for the final validation: only the
            # network is wanted then. Restoring the checkpoint's (older) label-store round would delete the rounds
            # committed after it, which are what the run trained on and what `nnunet-svl audit` reads.
            self.print_to_log_file(f"loaded {path} for validation; the label store keeps round "
                                   f"{self.label_store.current_round if self.label_store is not None else 0}")
            return
        saved_cfg = checkpoint.get('svl_config', {})
        if saved_cfg and saved_cfg != self.cfg.to_dict():
            diff = {k: (saved_cfg.get(k), v) for k, v in self.cfg.to_dict().items() if saved_cfg.get(k) != v}
            self.print_to_log_file(f"WARNING: resuming with a config that differs from the checkpoint's: {diff}")
        self.load_svl_state_dict(checkpoint['svl_state'])
        self._resumed = True
