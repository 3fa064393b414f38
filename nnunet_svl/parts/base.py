"""The interface every method part implements, and the objects the trainer hands to the parts [ours].

A *method part* is one published method wired into nnU-Net's training: :class:`nnunet_svl.dale.part.DalePart`
(DALE, docs/METHOD.md §2) and :class:`nnunet_svl.rl.part.VA3CPart` (SVL-DRL, §1). The trainer
(:mod:`nnunet_svl.trainers.method`) holds a list of parts and asks each of them, in order:

* ``build_modules`` — extra trainable modules (saved under the checkpoint key ``svl_modules``, outside the network);
* ``segmentation_loss`` / ``add_loss_terms`` — every iteration, on a :class:`Batch`;
* ``round_due`` / ``plan_round`` / ``patch_maps`` / ``update_case`` / ``after_label_change`` — in a label round, run by
  :class:`nnunet_svl.parts.label_round.LabelRoundEngine` on :class:`CaseRound` objects;
* ``state_dict`` / ``load_state_dict`` — checkpoint state (merged into ``svl_state``);
* ``record`` (a callback set by the trainer) — per-epoch scalars for nnU-Net's logger.

Nothing here imports nnU-Net; parts are testable with plain tensors and arrays.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from nnunet_svl.parts.voxels import first_scale, valid_voxels


@dataclass(frozen=True)
class LabelSpace:
    """What the parts need to know about the dataset's labels (from nnU-Net's label manager)."""

    foreground_labels: tuple[int, ...]
    ignore_label: Optional[int]
    has_regions: bool
    num_heads: int
    """Number of network output channels."""

    @classmethod
    def of(cls, label_manager) -> "LabelSpace":
        return cls(tuple(int(c) for c in label_manager.foreground_labels), label_manager.ignore_label,
                   bool(label_manager.has_regions), int(label_manager.num_segmentation_heads))

    @property
    def foreground_outputs(self) -> list[int]:
        """Output channels whose probability is a foreground belief (regions: all; labels: all but background)."""
        return list(range(self.num_heads)) if self.has_regions else list(range(1, self.num_heads))

    @property
    def classes(self) -> list[int]:
        """Background and the foreground labels."""
        return [0] + list(self.foreground_labels)

    def classes_array(self) -> np.ndarray:
        """Label value of each softmax output channel (index = channel)."""
        return np.asarray(self.classes, dtype=np.int16)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        return torch.sigmoid(logits) if self.has_regions else torch.softmax(logits, 1)

    def valid(self, label):
        """The valid-voxel mask of a label map (see :func:`nnunet_svl.parts.voxels.valid_voxels`)."""
        return valid_voxels(label, self.ignore_label)

    def reference_and_valid(self, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A training target (B, 1 or R, *sp) as the foreground one-hot reference G (B, K, *sp) and the mask of voxels
        with a usable label (B, 1, *sp)."""
        if self.has_regions:
            ref = label.float()
            if self.ignore_label is not None:
                return ref[:, :-1], ref[:, -1:] == 0
            return ref, torch.ones_like(ref[:, :1], dtype=torch.bool)
        lab = label[:, 0].long()
        ref = torch.stack([(lab == c).float() for c in self.foreground_labels], dim=1)
        return ref, self.valid(lab)[:, None]


@dataclass
class Batch:
    """One training iteration as the parts see it. ``output``, ``labels``, ``omega`` and ``fuzzy`` are lists over
    deep-supervision scales or single tensors, as nnU-Net passes them (``omega``/``fuzzy`` are None without DALE's
    weight channels); ``features`` are the full-resolution decoder features of this forward pass."""

    data: torch.Tensor
    output: Any
    labels: Any
    omega: Any
    fuzzy: Any
    features: torch.Tensor
    keys: Any
    epoch: int

    @property
    def logits(self) -> torch.Tensor:
        return first_scale(self.output)

    @property
    def label(self) -> torch.Tensor:
        return first_scale(self.labels)


@dataclass
class RoundPlan:
    """What this label round does, decided once before any case is processed (the same on every DDP rank)."""

    epoch: int
    correct: bool = False
    """Labels may change in this round (a correction round)."""
    kind: str = "measure"
    """Written to the label store's history: ``correction``, ``dale_stats`` or ``measure``."""


@dataclass
class CaseRound:
    """One training case inside a label round. Parts read the network's maps and update the label in force and
    DALE's arrays; the engine stages whatever they hold at the end."""

    case: str
    label: np.ndarray
    """(1, *sp) int16, the label in force; a correcting part replaces it."""
    maps: dict[str, np.ndarray]
    """Blended whole-case maps: ``probs`` (network probabilities, all output channels) and the parts' own maps."""
    stats: Optional[dict[str, np.ndarray]] = None
    """DALE's stored loss statistics of this case (None before its first round)."""
    stats_source: Any = None
    """Where ``stats`` came from (named in errors)."""
    omega: Optional[np.ndarray] = None
    fuzzy: Optional[np.ndarray] = None
    new_stats: Any = None
    """What to store for the next round: ω, fuzzy membership (1, *sp) and loss statistics (an object with
    ``to_arrays()``), or None."""
    counts: dict = field(default_factory=dict)
    reference: dict = field(default_factory=dict)
    """``given``: the given label (1, *sp) (teacher gate); ``clean``: the clean label (ORACLE ablations only)."""
    flagged: Optional[bool] = None
    """Teacher gate: whether the case is flagged noisy (None: no gate in this trainer)."""
    teacher_label: Optional[np.ndarray] = None
    """Teacher gate: the teacher's argmax label (*sp)."""
    disputed: Optional[np.ndarray] = None
    """Teacher gate, flagged cases: voxels (*sp) where the teacher disagrees with the given label."""
    data: Optional[np.ndarray] = None
    """The case's preprocessed network input (C, *sp) (the edge repair fits the image)."""


class MethodPart:
    """Base class: a part that does nothing (see the module docstring for the order the trainer calls these)."""

    name: str = "part"
    initial_rounds: int = 0
    """Label rounds the part commits before training starts (they do not count as correction rounds)."""
    initial_kind: str = "init"
    """The history kind of that initial round."""
    stats_kind: Optional[str] = None
    """The history kind of a round in which this part only updates statistics."""

    def __init__(self) -> None:
        self.record: Callable[[str, float], None] = lambda key, value: None
        self.batch_filter: Optional[Callable[[list], bool]] = None
        """Teacher gate [ours, METHOD §5]: whether a batch holds a case the method may change (a flagged case). The
        per-iteration work of a part runs only on such batches; the rest train with nnU-Net's own loss and cost what
        they cost in nnUNetTrainer. None: every batch is the part's."""

    def prepare_initial(self, cases: Sequence[str], load_case: Callable) -> None:
        """Before the initial round of a fresh run, on every rank (it may gather): what the part must know of the
        whole dataset before it changes any case's label (the edge repair's step reference). Default: nothing."""

    def batch_is_mine(self, batch: "Batch") -> bool:
        """Without the teacher gate every batch; with it, a batch holding a flagged case (host-side: the case ids)."""
        return self.batch_filter is None or batch.keys is None or self.batch_filter(list(batch.keys))

    # --- modules and losses --------------------------------------------------------------------------------------
    def build_modules(self) -> dict[str, nn.Module]:
        return {}

    def after_step(self, network: nn.Module) -> None:
        """After every optimiser step (e.g. the teacher's EMA update); no host synchronisation here."""

    def segmentation_loss(self, batch: Batch) -> Optional[torch.Tensor]:
        """Replace nnU-Net's segmentation loss for this batch (at most one part does), or None."""
        return None

    def add_loss_terms(self, batch: Batch, total: torch.Tensor, logged: dict[str, torch.Tensor]) -> torch.Tensor:
        """Return the new total loss; put terms to be logged (epoch means) into ``logged``."""
        return total

    # --- label rounds --------------------------------------------------------------------------------------------
    def round_due(self, epoch: int) -> Optional[bool]:
        """Whether a label round ends ``epoch`` by this part's schedule; None = no opinion (a later part's answer
        overrides an earlier part's)."""
        return None

    def plan_round(self, plan: RoundPlan, previous_agreement: Optional[float]) -> None:
        """Adjust the round's plan (e.g. decide to correct)."""

    def initial_case(self, case: CaseRound) -> None:
        """Before training: fill ``case`` for the part's initial round (only parts with ``initial_rounds``)."""

    def wants_patch_maps(self, plan: RoundPlan, case: str) -> bool:
        """Whether :meth:`patch_maps` is needed for ``case`` in this round (False skips its inference work)."""
        return True

    def patch_maps(self, plan: RoundPlan, x: torch.Tensor, logits: torch.Tensor,
                   features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Extra per-patch maps (B, C, *patch) this round needs, blended over the case like the probabilities."""
        return {}

    def update_case(self, plan: RoundPlan, case: CaseRound) -> dict:
        """Do this part's work for one case; return counts that add up over cases and ranks."""
        return {}

    def after_label_change(self, plan: RoundPlan, case: CaseRound, old_label: np.ndarray) -> None:
        """Called when a later part changed ``case.label`` in this round."""

    def excluded_cases(self) -> Optional[set]:
        """After :meth:`finish_round`: training cases the data loader should skip from this round on (committed with
        the round, so a resume restores them); None: this part has no say."""
        return None

    def finish_round(self, plan: RoundPlan, totals: dict) -> None:
        """After the round is committed, with its counts summed over all cases and ranks (the same on every rank):
        cross-case quantities for the next round (e.g. normalisers)."""

    # --- checkpoint ----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
