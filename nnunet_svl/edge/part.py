"""The image-edge repair as a label-round part (config ``edge_repair``; ablation ``_EdgeRepair``) [ours].

Before training (the label store's initial round) every training case's foreground is fitted against the image
(:func:`nnunet_svl.edge.boundary.fit_edge`), and a case whose label lies more than ``edge_tolerance`` voxels outside
the image's edge has its boundary moved in to the edge (:func:`~nnunet_svl.edge.boundary.repair_label`; with
``edge_repair_steps`` > 1 the moved label is fitted and moved again while it still lies beyond the tolerance,
:func:`~nnunet_svl.edge.boundary.repair_to_edge`). From then
on the repaired label *is* the case's given label: the data loader serves it from the store, and in every label round
this part hands it to the teacher gate (which re-derives each case from its given label) in place of the annotation.
A case the fit leaves alone keeps its annotation, bit for bit (no harm by construction where nothing moves).

Which labels are over-drawn is decided once for the dataset (:meth:`EdgeRepairPart.prepare_initial`, before the
initial round): every case's first fit, gathered over the ranks, gives the step strength of the labels on their edge
(:func:`~nnunet_svl.edge.boundary.on_edge_step_reference`), and a label is moved only where its own step is at least
``edge_step_ratio`` times that (:meth:`EdgeRepairPart.over_drawn`): a label past its edge shows the whole step, one
whose fit merely lands inside a faint edge does not.

The fits are deterministic functions of the preprocessed image and the given label, cached per case (and kept in the
checkpoint so a resumed run logs the same); a rank that never fitted a case (DDP shards) fits it when it needs it.

Supported: one foreground class, no regions. Other label layouts are left alone with a note in the log (the shared
offset of a multi-class foreground would move one class's boundary by another's edge).
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Callable, Optional, Sequence

import numpy as np

from nnunet_svl.edge.boundary import (EdgeFit, fit_edge, on_edge_step_reference, on_edge_steps, reached_edge,
                                      repair_to_edge, replay_repair)
from nnunet_svl.parts.base import CaseRound, LabelSpace, MethodPart, RoundPlan
from nnunet_svl.runtime.config import SVLConfig
from nnunet_svl.runtime.distributed import rank_and_world, shard


class EdgeRepairPart(MethodPart):
    name = "edge_repair"
    initial_rounds = 1
    initial_kind = "edge_repair"

    def __init__(self, cfg: SVLConfig, space: LabelSpace, spacing: Optional[Sequence[float]] = None,
                 gather: Callable[[list], list[list]] = lambda items: [items]) -> None:
        super().__init__()
        self.cfg = cfg
        self.gather = gather
        self.step_reference: float = float("nan")
        """The on-edge labels' median step t (:meth:`prepare_initial`); NaN: none (too few labels on their edge, the
        rule off, or a run that started before it existed): the offset alone decides."""
        self.space = space
        self.spacing = None if spacing is None else [float(s) for s in spacing]
        self.fits: dict[str, EdgeFit] = {}
        """Each case's first fit: whether the case is judged over-drawn (:meth:`moves`)."""
        self.refits: dict[str, list[EdgeFit]] = {}
        """The fits of a moved label after its first move (``edge_repair_steps`` > 1)."""
        self._moved: dict[str, tuple[tuple[int, ...], np.ndarray]] = {}
        """Per moved case, the label's shape and the flat indices of the voxels the repair set to background: later
        rounds apply them instead of replaying the moves (a distance transform per move), so a round's repair costs
        what it changes. Not checkpointed: a resumed run replays once from the fits."""
        self.log: Callable[[str], None] = print
        self.unsupported = self._unsupported()
        self._told = False

    def _unsupported(self) -> str:
        if self.space.has_regions:
            return "region-based labels"
        if len(self.space.foreground_labels) != 1:
            return f"{len(self.space.foreground_labels)} foreground classes (one is supported)"
        return ""

    # ------------------------------------------------------------------------------------------ the repair
    def repaired(self, case: str, data: Optional[np.ndarray], given: np.ndarray) -> np.ndarray:
        """The case's given label (1, *sp) with its boundary moved to the image's edge where the fit says so; the
        same array when nothing moves (or the layout is unsupported). The first call fits the case (every step's fit
        is cached, with the repaired label it gives); later calls replay the cached fits without the image."""
        if self.unsupported:
            if not self._told:
                self.log(f"edge repair: off for this dataset ({self.unsupported})")
                self._told = True
            return given
        label = given[0]
        if case in self.fits and not self.over_drawn(self.fits[case]):
            return given
        cached = self._moved.get(case)
        if cached is not None and cached[0] == label.shape:
            out = label.copy()
            out.reshape(-1)[cached[1]] = 0
            return out[None].astype(given.dtype, copy=False)
        valid = self.space.valid(label)
        if case in self.fits:
            out = replay_repair(label, [self.fits[case], *self.refits.get(case, [])], self.cfg.edge_tolerance,
                                valid=valid, spacing=self.spacing, judge=self.over_drawn)
        elif data is None:
            raise ValueError(f"edge repair: case {case!r} has no fit and no image to fit it on (CaseRound.data is "
                             f"None); the label-round engine passes each case's image to the parts")
        else:
            out, fits = repair_to_edge(data, label, self.cfg.edge_tolerance, self.cfg.edge_repair_steps, valid=valid,
                                       spacing=self.spacing, judge=self.over_drawn, window=self.cfg.edge_window,
                                       sigma=self.cfg.edge_sigma)
            self.fits[case], self.refits[case] = fits[0], fits[1:]
        if out is label:
            return given
        self._moved[case] = (label.shape, np.flatnonzero(out != label))
        return out[None].astype(given.dtype)

    def moves(self, case: str) -> Optional[bool]:
        """Whether the case's label is moved to the image's edge (:meth:`over_drawn` of its first fit: the case is
        judged over-drawn); None when the case was never fitted."""
        fit = self.fits.get(case)
        if fit is None or self.unsupported:
            return None
        return self.over_drawn(fit)

    def over_drawn(self, fit: EdgeFit) -> bool:
        """Whether a case's first fit judges its label over-drawn [ours]: trusted, its offset beyond
        ``edge_tolerance`` (by ``edge_offset_z`` standard errors), and its step's t at least ``edge_step_ratio`` ×
        :attr:`step_reference` where the dataset has one."""
        if not fit.moves(self.cfg.edge_tolerance, self.cfg.edge_offset_z):
            return False
        ratio = self.cfg.edge_step_ratio
        return not (ratio > 0 and np.isfinite(self.step_reference) and fit.t_value < ratio * self.step_reference)

    def prepare_initial(self, cases: Sequence[str], load_case: Callable) -> None:
        """Before the initial round: this rank's share of the first fits, gathered over the ranks, sets
        :attr:`step_reference` (:func:`nnunet_svl.edge.boundary.on_edge_step_reference`). Each case is loaded and
        fitted once more in the round itself (the fit is deterministic)."""
        if self.unsupported or self.cfg.edge_step_ratio <= 0:
            return
        rank, world = rank_and_world()
        mine = []
        for case in shard(list(cases), rank, world):
            data, label, _ = load_case(case)
            lab = np.asarray(label)[0]
            fit = fit_edge(data, lab > 0, valid=self.space.valid(lab), spacing=self.spacing,
                           window=self.cfg.edge_window, sigma=self.cfg.edge_sigma)
            mine.append((case, (fit.offset, fit.t_value, fit.reliable)))
        fits = dict(item for part in self.gather(mine) for item in part)
        self.step_reference = on_edge_step_reference(fits, self.cfg.edge_tolerance)
        on_edge = len(on_edge_steps(fits, self.cfg.edge_tolerance))
        if np.isfinite(self.step_reference):
            self.log(f"edge repair: {on_edge} of {len(fits)} labels lie on their image's edge, median step t "
                     f"{self.step_reference:.1f}; a label is moved only where its step's t is at least "
                     f"{self.cfg.edge_step_ratio:g} x that (edge_step_ratio)")
        else:
            self.log(f"edge repair: {on_edge} of {len(fits)} labels lie on their image's edge, too few for a step "
                     f"reference; the offset alone decides")

    def reached_edge(self, case: str) -> Optional[bool]:
        """Whether the case's label was moved *and* the repair ended on the image's edge
        (:func:`nnunet_svl.edge.boundary.reached_edge` of its fits). False for a label moved ``edge_repair_steps``
        times that still lies beyond the edge (or whose last fit is not trusted): the repair ran out of steps, the
        label is still judged over-drawn. None when the case was never fitted; False when it was not moved. [ours]"""
        moves = self.moves(case)
        if not moves:
            return moves
        return reached_edge([self.fits[case], *self.refits.get(case, [])], self.cfg.edge_tolerance)

    # ------------------------------------------------------------------------------------------ label rounds
    def initial_case(self, case: CaseRound) -> None:
        before = case.label
        case.label = self.repaired(case.case, case.data, case.label)
        fit = self.fits.get(case.case)
        if fit is not None:
            moved = int((case.label != before).sum()) if case.label is not before else 0
            later = "".join(f", then {f.offset:+.2f}" for f in self.refits.get(case.case, []))
            self.log(f"edge repair: {case.case}: edge offset {fit.offset:+.2f} ± {fit.offset_se:.2f} voxels{later} "
                     f"(t {fit.t_value:.1f}, "
                     f"channel {fit.channel}){'' if fit.reliable else ' not trusted: ' + fit.reason}; "
                     f"{moved} voxels moved to background")

    def update_case(self, plan: RoundPlan, case: CaseRound) -> dict:
        """Hand the repaired label to the parts after this one (the teacher gate re-derives each case from
        ``reference['given']``)."""
        given = case.reference.get("given")
        if given is None:
            return {}
        repaired = self.repaired(case.case, case.data, given)
        case.reference["given"] = repaired
        return {"edge_repaired": int(repaired is not given)}

    # ------------------------------------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict:
        return {"edge_fits": {c: asdict(f) for c, f in self.fits.items()},
                "edge_refits": {c: [asdict(f) for f in fits] for c, fits in self.refits.items() if fits},
                "edge_step_reference": self.step_reference}

    def load_state_dict(self, state: dict) -> None:
        self._moved = {}
        self.fits = {c: EdgeFit(**f) for c, f in state.get("edge_fits", {}).items()}
        self.refits = {c: [EdgeFit(**f) for f in fits] for c, fits in state.get("edge_refits", {}).items()}
        self.step_reference = float(state.get("edge_step_reference", float("nan")))
