"""The teacher gate as a method part (docs/METHOD.md §5) [ours]: no harm by construction, per-case noise first, a teacher
decides.

In every label round (config ``case_gate``), before DALE and vA3C see a case:

1. The EMA teacher (:mod:`nnunet_svl.teacher.ema`) segments the case; its disagreement with the *given* label, where
   the teacher is confident (``case_flag_confidence``), is the case's noise score
   (:func:`nnunet_svl.teacher.case_flags.disagreement_score`).
2. The label in force is reset to the given label: corrections are recomputed from it every round, never
   accumulated.
3. A case is *flagged* noisy when its score was an outlier among all cases (:func:`flag_cases`) in an earlier round
   from ``gate_start`` on (flags are decided after a round over all cases' scores and act from the next round).
   Unflagged cases train exactly as with nnU-Net: the given label, ω = 1, no fuzzy down-weighting, no flip.
4. In a flagged case the teacher's disagreements with the given label are *disputed* voxels: DALE gives them weight 0
   (``CaseRound.voxel_weight``), and vA3C may flip those where the teacher is confident (≥ ``teacher_flip_confidence``)
   and the agents' refined belief agrees.
5. With the edge repair before it (``case_flag_edge_absent``), a case whose label's boundary shows no intensity
   step is flagged too (:func:`flag_edge_absent`; the fits come from the edge part, ``edge_fit``), and
   (``case_flag_edge_veto``) a case whose label the image confirms is not flagged by its score
   (:func:`image_confirmed`).

The flags are reported per round (``gate_flagged`` in the round's counts, the list in the part's state and the log).
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from nnunet_svl.parts.base import CaseRound, LabelSpace, MethodPart, RoundPlan
from nnunet_svl.parts.label_round import agreement_of, agreement_shortfall
from nnunet_svl.parts.voxels import first_scale
from nnunet_svl.runtime.config import SVLConfig, epoch_boundary
from nnunet_svl.edge.boundary import MIN_STEP_T, EdgeFit
from nnunet_svl.teacher.case_flags import (boundary_offset, disagreement_score, flag_cases, flag_edge_absent,
                                           flag_over_drawn, image_confirmed, teacher_confident)
from nnunet_svl.teacher.ema import EMATeacher


class TeacherGatePart(MethodPart):
    name = "teacher_gate"

    def __init__(self, cfg: SVLConfig, space: LabelSpace, num_epochs: int, network: nn.Module,
                 gather: Callable[[list], list[list]] = lambda items: [items], prior_flags: frozenset = frozenset(),
                 edge_fit: Optional[Callable[[str], Optional[EdgeFit]]] = None,
                 edge_moves: Optional[Callable[[str], Optional[bool]]] = None):
        super().__init__()
        self.cfg = cfg
        self.space = space
        self.num_epochs = num_epochs
        self.teacher = EMATeacher(network, decay=cfg.teacher_ema)
        decoder = getattr(self.teacher.model, "decoder", None)
        if decoder is not None and hasattr(decoder, "deep_supervision"):
            decoder.deep_supervision = False   # the teacher is only used for whole-case inference
        self.gather = gather
        self.prior_flags = frozenset(prior_flags)
        """Cases flagged before training (``label_qa``: nnU-Net's held-out predictions); always flagged."""
        self.flagged: set[str] = set(self.prior_flags)
        self.edge_moves = edge_moves if cfg.label_qa_withdraw_repaired else None
        """Whether the edge repair moved a case's label (the edge part's ``moves``; this rank's cases): a prior flag
        of a moved label is withdrawn once the initial round has fitted every case (``label_qa_withdraw_repaired``)."""
        self.prior_withdrawn: Optional[frozenset] = None if (self.prior_flags and self.edge_moves) else frozenset()
        """The prior flags withdrawn because the edge repair moved their labels; None until decided."""
        self.flag_counts: dict[str, int] = {}
        self._scores: dict[str, float] = {}
        self._offsets: dict[str, float] = {}
        """Boundary offsets of this rank's cases in the round under way (``case_flag_volume_margin`` > 0 only)."""
        self.edge_fit = edge_fit if (cfg.case_flag_edge_absent or cfg.case_flag_edge_veto) else None
        """Each case's first edge fit (the edge part's, None without one): the image evidence of
        :func:`flag_edge_absent` and :func:`image_confirmed`."""
        self._edge: dict[str, tuple[float, float, bool]] = {}
        """(offset, t, trusted) of the edge fit of this rank's cases in the round under way (t NaN: no fit), with
        ``edge_fit`` only."""
        self._oracle_noisy: dict[str, bool] = {}
        """ORACLE (``oracle_gate`` 'flags', benchmark only): whether each case's given label differs from its clean
        one, this rank's cases of the round under way."""
        self.log: Callable[[str], None] = lambda message: None
        self.round_network_is_teacher = False
        """Set by the trainer when label rounds run the teacher instead of the network (one forward pass per patch
        instead of two: probabilities, DALE's loss history, agreement and the vA3C refinement all read the teacher
        then)."""

    def build_modules(self) -> dict[str, nn.Module]:
        return {"teacher": self.teacher}

    def after_step(self, network: nn.Module) -> None:
        self.teacher.update(network)

    @property
    def start_epoch(self) -> int:
        return epoch_boundary(self.cfg.gate_start, self.num_epochs)

    # ------------------------------------------------------------------------------------------ label rounds
    def patch_maps(self, plan: RoundPlan, x: torch.Tensor, logits: torch.Tensor,
                   features: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.round_network_is_teacher:       # the round's forward pass already was the teacher's
            return {"teacher": self.space.probabilities(logits)}
        with torch.no_grad():
            return {"teacher": self.space.probabilities(first_scale(self.teacher(x)))}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The teacher's logits of ``x`` (no gradient, no deep supervision)."""
        with torch.no_grad():
            return first_scale(self.teacher(x))

    def update_case(self, plan: RoundPlan, case: CaseRound) -> dict:
        given = case.reference["given"]
        teacher = case.maps["teacher"]
        teacher_label = self.space.classes_array()[teacher.argmax(0)] if not self.space.has_regions else \
            (teacher > 0.5).any(0).astype(np.int16)
        valid = self.space.valid(given[0])
        confident = teacher_confident(teacher, self.cfg.case_flag_confidence, self.space.has_regions)
        self._scores[case.case] = disagreement_score(teacher_label, given[0], valid, confident)
        if self.cfg.case_flag_volume_margin > 0:
            expected = teacher.max(0) if self.space.has_regions else teacher[1:].sum(0)
            self._offsets[case.case] = boundary_offset(given[0] > 0, expected, valid)
        if self.edge_fit is not None:
            fit = self.edge_fit(case.case)
            if fit is not None:
                self._edge[case.case] = (fit.offset, fit.step_t, bool(fit.reliable))
        if self.cfg.oracle_gate == "flags":
            self._oracle_noisy[case.case] = bool(np.any(given != case.reference["clean"]))
        case.label = given.copy()                              # recomputed from the given label every round
        case.flagged = case.case in self.flagged
        case.teacher_label = teacher_label
        if case.flagged:
            case.disputed = (teacher_label != given[0]) & valid
        return {"gate_flagged": int(case.flagged)}

    def excluded_cases(self) -> Optional[set]:
        """With ``flagged_case_sampling`` < 1 the flagged cases (the data loader draws an unflagged case in place of a
        flagged one with probability 1 − ``flagged_case_sampling``). Called on every rank before a round commits (the
        first: the initial round, after the edge repair), so it may gather."""
        self._settle_prior()
        return set(self.flagged) if self.cfg.flagged_case_sampling < 1 else None

    def _settle_prior(self) -> None:
        """Withdraw the prior flags of labels the edge repair moved (once; gathered over ranks, whose edge fits are
        sharded). A case no rank has fitted yet keeps its flag."""
        if self.prior_withdrawn is not None:
            return
        moved = {c for part in self.gather([c for c in sorted(self.prior_flags) if self.edge_moves(c)]) for c in part}
        self._withdraw_prior(frozenset(moved))
        if moved:
            self.log(f"label QA prior: {len(moved)} flags withdrawn, the edge repair moved these labels before "
                     f"training (label-qa judged the annotation): {sorted(moved)}; "
                     f"{len(self.prior_flags)} prior flags stand {sorted(self.prior_flags)}")

    def _withdraw_prior(self, withdrawn: frozenset) -> None:
        self.prior_withdrawn = withdrawn
        self.prior_flags = self.prior_flags - withdrawn
        self.flagged = {c for c in self.flagged if c not in withdrawn} | self.prior_flags

    def touches(self, keys) -> bool:
        """Whether any of these cases is flagged (the method may change only those; the rest train as with
        nnU-Net)."""
        return any(str(k) in self.flagged for k in keys)

    def last_score(self, case: str) -> Optional[float]:
        """The case's disagreement score in the round under way (this rank's cases)."""
        return self._scores.get(case)

    def finish_round(self, plan: RoundPlan, totals: dict) -> None:
        """Decide the flags from all cases' scores of this round — only from ``gate_start`` on and once the network
        agrees with the labels at least ``correction_min_agreement`` (the start criterion [ours]: a network that
        predicts no foreground yet scores every case with a lesion as disagreeing and every empty label as perfect,
        which flagged the clean cases of the 6-case test fixture). Flags are re-decided every round: a case is flagged
        while it was an outlier in the last ``case_flag_persist`` rounds."""
        scores = dict(item for part in self.gather(list(self._scores.items())) for item in part)
        noisy = {c for part in self.gather(list(self._oracle_noisy.items())) for c, n in part if n} \
            if self.cfg.oracle_gate == "flags" else None
        offsets = dict(item for part in self.gather(list(self._offsets.items())) for item in part) \
            if self.cfg.case_flag_volume_margin > 0 else {}
        edge = dict(item for part in self.gather(list(self._edge.items())) for item in part) \
            if self.edge_fit is not None else {}
        self._scores, self._oracle_noisy, self._offsets, self._edge = {}, {}, {}, {}
        if plan.epoch < self.start_epoch or not scores:
            return
        shortfall = agreement_shortfall(agreement_of(totals), self.cfg.correction_min_agreement)
        if shortfall is not None:
            self.log(f"teacher gate: no flags decided, {shortfall}")
            return
        new = flag_cases(scores, k=self.cfg.case_flag_k, margin=self.cfg.case_flag_margin) if noisy is None else noisy
        if edge and noisy is None and self.cfg.case_flag_edge_veto:
            confirmed = new & image_confirmed(edge, self.cfg.edge_tolerance)
            if confirmed:
                self.log(f"teacher gate: not flagged, the image confirms the label ({sorted(confirmed)}: on the edge, "
                         f"its step like the other on-edge labels')")
            new = new - confirmed
        if offsets and noisy is None:
            over = flag_over_drawn(offsets, new, self.cfg.case_flag_volume_margin)
            self.log(f"teacher gate: {len(over)} cases over-drawn ({sorted(over)}); boundary offsets "
                     f"{{{', '.join(f'{k}: {v:+.2f}' for k, v in sorted(offsets.items()))}}}")
            new = new | over
        if edge and noisy is None and self.cfg.case_flag_edge_absent:
            absent = flag_edge_absent({c: t for c, (_, t, _) in edge.items()}, MIN_STEP_T)
            if absent:
                self.log(f"teacher gate: {len(absent)} cases without an intensity step at the label's boundary "
                         f"({sorted(absent)}; t < {MIN_STEP_T:g})")
            new = new | absent
        self.flag_counts = {c: self.flag_counts.get(c, 0) + 1 for c in new}
        self.flagged = {c for c, n in self.flag_counts.items() if n >= self.cfg.case_flag_persist} | self.prior_flags
        self.log(f"teacher gate: {len(self.flagged)} of {len(scores)} cases flagged "
                 f"({sorted(self.flagged)}); scores {{{', '.join(f'{k}: {v:.3f}' for k, v in sorted(scores.items()))}}}")

    # ------------------------------------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict:
        state = {"gate_flag_counts": dict(self.flag_counts)}
        if self.prior_withdrawn:
            state["gate_prior_withdrawn"] = sorted(self.prior_withdrawn)
        return state

    def load_state_dict(self, state: dict) -> None:
        self.flag_counts = dict(state.get("gate_flag_counts", {}))
        if "gate_prior_withdrawn" in state:
            self._withdraw_prior(frozenset(state["gate_prior_withdrawn"]))
        self.flagged = {c for c, n in self.flag_counts.items() if n >= self.cfg.case_flag_persist} | self.prior_flags
