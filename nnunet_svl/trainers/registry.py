"""Every trainer class users can select with ``-tr`` (re-exported for nnU-Net by ``nnunet_svl/ext_trainers``)."""
from __future__ import annotations

from nnunet_svl.trainers.base import nnUNetTrainerSVLBase
from nnunet_svl.trainers.budgets import (nnUNetTrainerBaseline_bench, nnUNetTrainerBaseline_demo,
                                         nnUNetTrainerBaseline_tiny)


class nnUNetTrainerSVLBase_tiny(nnUNetTrainerSVLBase):
    """The shared base with no method switched on: the label store alone (used by the foundation tests)."""

    svl_budget = "tiny"


TRAINERS = {c.__name__: c for c in (
    nnUNetTrainerSVLBase_tiny,
    nnUNetTrainerBaseline_tiny, nnUNetTrainerBaseline_demo, nnUNetTrainerBaseline_bench,
)}
