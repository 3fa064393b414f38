"""Training budgets for short runs (tests, demo, CPU benchmark), the nnU-Net way: one subclass per budget.

``nnUNetTrainerBaseline_<budget>`` is the stock ``nnUNetTrainer`` with only the budget changed (and, when the benchmark
names clean labels, its memorisation curves logged outside the timed epoch), so comparisons against the plugin's
trainers at the same budget are fair.
"""
from __future__ import annotations

from typing import Optional

from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
import torch

from nnunet_svl.runtime.seeding import apply_train_seed
from nnunet_svl.trainers.diagnostics import DiagnosticsMixin

# name -> (epochs, iterations per epoch, validation iterations per epoch)
BUDGETS: dict[str, tuple[int, int, int]] = {
    "tiny": (3, 5, 1),     # CI: warm-up, transition, full RL and a label round in seconds
    "demo": (12, 25, 4),   # `nnunet-svl demo`: a few minutes on 2 CPU cores
    "bench": (20, 25, 4),  # benchmark presets: 500 iterations per model (~5 min on 2 cores, 40³ phantoms)
    "long": (60, 25, 4),   # the regime's learning curves (benchmarks/regime/curves.py): 3× the bench budget
}

NO_TEST_TIME_MIRRORING = frozenset({"tiny"})
"""Budgets whose final validation and stock predictions run without nnU-Net's mirroring test-time augmentation (the
training augmentation is unchanged). For the CI budget only: 8 mirrored forward passes per window made up most of a
tiny run's prediction time (a 32³ case: ~3 s with, ~0.4 s without), and a 15-iteration network is checked for
plumbing, not for Dice."""


def budget_epochs(trainer: str) -> Optional[int]:
    """Epochs of a trainer name's budget suffix (``..._demo`` → 12), None when the name has none of ours."""
    suffix = trainer.rsplit("_", 1)[-1] if "_" in trainer else ""
    return BUDGETS[suffix][0] if suffix in BUDGETS else None


def apply_budget(trainer: nnUNetTrainer, budget: str) -> None:
    """Set the budget of a short variant and, if the benchmark set ``NNUNET_SVL_TRAIN_SEED``, seed the run."""
    apply_train_seed()
    trainer.num_epochs, trainer.num_iterations_per_epoch, trainer.num_val_iterations_per_epoch = BUDGETS[budget]
    # a checkpoint after every epoch, so that `--c` after a kill resumes where a real run would (nnU-Net's default,
    # every 50 epochs, would leave short runs without any checkpoint_latest.pth to resume from)
    trainer.save_every = 1


class BudgetInferenceMixin:
    """Test-time mirroring off for the budgets in :data:`NO_TEST_TIME_MIRRORING` (nnU-Net saves
    ``inference_allowed_mirroring_axes`` in the checkpoint, so the stock predictor follows it)."""

    svl_budget: Optional[str] = None

    def configure_rotation_dummyDA_mirroring_and_inital_patch_size(self):
        out = super().configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        if self.svl_budget in NO_TEST_TIME_MIRRORING:
            self.inference_allowed_mirroring_axes = None
        return out


class nnUNetTrainerBaselineBudget(BudgetInferenceMixin, DiagnosticsMixin, nnUNetTrainer):
    """Stock nnUNetTrainer with the budget named by ``svl_budget`` (a key of BUDGETS)."""

    svl_budget = "tiny"

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device('cuda')):
        super().__init__(plans, configuration, fold, dataset_json, device)
        apply_budget(self, self.svl_budget)
        self._init_diagnostics()


class nnUNetTrainerBaseline_tiny(nnUNetTrainerBaselineBudget):
    """Stock nnUNetTrainer with the 'tiny' budget (tests), for comparisons at the same budget."""

    svl_budget = "tiny"


class nnUNetTrainerBaseline_demo(nnUNetTrainerBaselineBudget):
    """Stock nnUNetTrainer with the 'demo' budget (the demo), for comparisons at the same budget."""

    svl_budget = "demo"


class nnUNetTrainerBaseline_bench(nnUNetTrainerBaselineBudget):
    """Stock nnUNetTrainer with the 'bench' budget (the CPU benchmark), for comparisons at the same budget."""

    svl_budget = "bench"


class nnUNetTrainerBaseline_long(nnUNetTrainerBaselineBudget):
    """Stock nnUNetTrainer with the 'long' budget (3× the benchmark's), for the regime's learning curves."""

    svl_budget = "long"
