"""The label-round engine: where a round is decided, run case by case, and committed (docs/METHOD.md §1.2 "Dynamic
iterative label update", §2.2 voxel loss history) [ours].

A round (every K epochs, by the parts' schedules):

1. :meth:`LabelRoundEngine.plan` — is a round due at this epoch (``round_due`` of the parts; a later part's answer
   overrides an earlier one's), and what kind is it (a part's ``plan_round`` may make it a correction round, e.g. vA3C
   once the network agrees with the labels enough; ``correction_max_rounds`` caps the correction rounds only).
2. For each of this rank's training cases: load the preprocessed image and the label in force, blend the network's
   probabilities and the parts' per-patch maps over the whole case (``infer``), measure the network's agreement with
   the label, then ask every part in order (``update_case``; ``after_label_change`` when a part changed the label) and
   stage the label, ω, fuzzy membership and loss statistics in the label store.
3. Commit the round: one atomic manifest write by rank 0 (:func:`nnunet_svl.runtime.distributed.run_synchronised_round`
   → :meth:`nnunet_svl.runtime.label_store.LabelStore.commit_round`).

The engine does not import nnU-Net: the trainer passes ``load_case`` (preprocessed arrays) and ``infer`` (sliding-
window inference with a per-patch callback), so the engine runs in unit tests with a toy network.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import torch

from nnunet_svl.parts.base import CaseRound, LabelSpace, MethodPart, RoundPlan
from nnunet_svl.runtime.distributed import rank_and_world, run_synchronised_round, shard
from nnunet_svl.runtime.label_store import LabelStore

LoadCase = Callable[[str], tuple[np.ndarray, np.ndarray, Optional[dict]]]
"""case id → (preprocessed data (C, *sp) float32, label in force (1, *sp) int16, stored loss statistics or None)."""
Forward = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""network input patch → (logits, decoder features), no deep supervision."""
Infer = Callable[[np.ndarray, Callable[[torch.Tensor], dict]], dict[str, np.ndarray]]
"""(case data, per-patch callback) → blended whole-case maps."""
InferMany = Callable[[list, Callable[[torch.Tensor], dict]], list]
"""(several cases' data, per-patch callback) → their blended maps, several tiles per network call."""
Observe = Callable[[RoundPlan, CaseRound, np.ndarray, dict], None]


def agreement_of(totals: dict) -> Optional[float]:
    """2·overlap / (|prediction| + |label|) from a label round's summed counts; None when the round did not measure
    it; 1.0 when both are empty."""
    if "agree_total" not in totals or "agree_overlap" not in totals:
        return None
    total = float(totals["agree_total"])
    return 1.0 if total == 0 else 2.0 * float(totals["agree_overlap"]) / total


def agreement_shortfall(agreement: Optional[float], minimum: float) -> Optional[str]:
    """The start criterion shared by corrections and the teacher gate's flags [ours]: None when the network agrees
    with the labels in force at least ``minimum`` (``correction_min_agreement``; 0 = no criterion), else why not, for
    the log."""
    if minimum <= 0 or (agreement is not None and agreement >= minimum):
        return None
    measured = "not measured" if agreement is None else f"{agreement:.3f}"
    return f"the network's agreement with the labels was {measured} (< correction_min_agreement {minimum})"


def agreement_counts(label: np.ndarray, probs: np.ndarray, space: LabelSpace) -> dict:
    """Foreground overlap of the network's argmax (regions: p > 0.5) with the label in force, valid voxels, all
    foreground labels together, as sums that add up over cases and DDP ranks (feeds :func:`agreement_of`)."""
    lab = label[0]
    valid = space.valid(lab)
    if space.has_regions:
        pred_fg = (probs > 0.5).any(axis=0)
        ref_fg = lab > 0
        overlap = pred_fg & ref_fg
    else:
        pred = probs.argmax(axis=0)
        pred_fg, ref_fg = pred > 0, lab > 0
        overlap = (pred == lab) & ref_fg
    return {"agree_overlap": int((overlap & valid).sum()),
            "agree_total": int((pred_fg & valid).sum() + (ref_fg & valid).sum())}


class LabelRoundEngine:
    """Runs label rounds for a list of parts over a label store (see the module docstring)."""

    def __init__(self, parts: Sequence[MethodPart], store: LabelStore, space: LabelSpace, max_rounds: int = 0):
        self.parts = list(parts)
        self.store = store
        self.space = space
        self.max_rounds = int(max_rounds)

    # ------------------------------------------------------------------------------------------------ planning
    @property
    def initial_rounds(self) -> int:
        return sum(p.initial_rounds for p in self.parts)

    def corrections_done(self) -> int:
        """Committed correction rounds (statistics-only and initial rounds do not count)."""
        return sum(1 for h in self.store.history() if h.get("kind") == "correction")

    def due(self, epoch: int) -> bool:
        if self.max_rounds and self.corrections_done() >= self.max_rounds and \
                not any(p.stats_kind for p in self.parts):
            return False             # nothing left to do: no more corrections, no statistics to update
        decision = None
        for part in self.parts:
            answer = part.round_due(epoch)
            if answer is not None:
                decision = answer
        return bool(decision)

    def previous_agreement(self) -> Optional[float]:
        """The network's agreement with the labels in force as the last committed round measured it (None before
        any). Read from the store's manifest: it survives ``--c`` and is the same on every DDP rank."""
        history = self.store.history()
        return agreement_of(history[-1]) if history else None

    def plan(self, epoch: int) -> Optional[RoundPlan]:
        """The plan of the round ending ``epoch``, or None when no round is due."""
        if not self.due(epoch):
            return None
        plan = RoundPlan(epoch=epoch)
        agreement = self.previous_agreement()
        for part in self.parts:
            part.plan_round(plan, agreement)
        if plan.correct and self.max_rounds and self.corrections_done() >= self.max_rounds:
            plan.correct = False     # ``correction_max_rounds`` reached: the round only measures / updates DALE
        if plan.correct:
            plan.kind = "correction"
        else:
            plan.kind = next((p.stats_kind for p in self.parts if p.stats_kind), "measure")
        return plan

    # ------------------------------------------------------------------------------------------------ running
    def patch_callback(self, plan: RoundPlan, forward: Forward, case: Optional[str] = None) \
            -> Callable[[torch.Tensor], dict]:
        parts = [p for p in self.parts if case is None or p.wants_patch_maps(plan, case)]

        def fn(x: torch.Tensor) -> dict[str, torch.Tensor]:
            logits, features = forward(x)
            maps = {"probs": self.space.probabilities(logits)}
            for part in parts:
                maps.update(part.patch_maps(plan, x, logits, features))
            return maps

        return fn

    def process_case(self, plan: RoundPlan, case: str, round_index: int, load_case: LoadCase, infer: Infer,
                     forward: Forward, observe: Optional[Observe] = None,
                     references: Optional[Callable[[str], dict]] = None) -> dict:
        data, label, stats = load_case(case)
        maps = infer(data, self.patch_callback(plan, forward, case))
        cr = CaseRound(case=case, label=label, maps=maps, stats=stats,
                       stats_source=self.store.case_file(case, stats=True),
                       reference=references(case) if references is not None else {}, data=data)
        counts = agreement_counts(label, maps["probs"], self.space)
        for i, part in enumerate(self.parts):
            before = cr.label
            counts.update(part.update_case(plan, cr))
            if cr.label is not before and not np.array_equal(cr.label, before):
                # the parts that already did their work on the old label hear of it; later parts see the new one
                for earlier in self.parts[:i]:
                    earlier.after_label_change(plan, cr, before)
        if observe is not None:
            observe(plan, cr, label, counts)
        self.store.stage_case(round_index, case, cr.label, omega=cr.omega, fuzzy=cr.fuzzy,
                              stats=cr.new_stats.to_arrays() if cr.new_stats is not None else None)
        return counts

    def run(self, plan: RoundPlan, cases: Sequence[str], load_case: LoadCase, infer: Optional[Infer],
            forward: Forward, observe: Optional[Observe] = None,
            references: Optional[Callable[[str], dict]] = None, infer_many: Optional[InferMany] = None,
            group_voxels: int = 0) -> tuple[int, dict]:
        """Process every case (this rank's share under DDP) and commit the round; (round index, summed counts).
        ``observe(plan, case, label at the round's start, counts)`` sees every case before it is staged
        (diagnostics); ``references(case)`` gives oracle ablations the given and clean labels. With ``infer_many``,
        consecutive small cases (together at most ``group_voxels`` voxels) are inferred in one batched pass
        (:class:`GroupedInference`; ``infer`` is then not used and may be None); each case is still updated and
        staged on its own, in the same order."""
        if infer_many is None and infer is None:
            raise ValueError("LabelRoundEngine.run needs infer or infer_many")
        if infer_many is not None:
            grouped = GroupedInference(self, plan, shard(cases, *rank_and_world()), load_case, infer_many, forward,
                                       group_voxels)
            load_case, infer = grouped.load_case, grouped.infer

        def finish(totals: dict) -> Optional[list[str]]:
            for part in self.parts:
                part.finish_round(plan, totals)
            return self.excluded_cases()

        round_index, totals = run_synchronised_round(
            self.store, cases,
            lambda case, r: self.process_case(plan, case, r, load_case, infer, forward, observe, references),
            summary={"kind": plan.kind, "epoch": plan.epoch}, before_commit=finish)
        return round_index, totals

    def excluded_cases(self) -> Optional[list[str]]:
        """The cases the parts want the data loader to skip (e.g. flagged before training by ``label_qa``), or None
        when no part has a say."""
        excluded = [e for e in (p.excluded_cases() for p in self.parts) if e is not None]
        return sorted(set().union(*excluded)) if excluded else None

    def initialise(self, cases: Sequence[str], load_case: LoadCase) -> None:
        """Commit the parts' initial rounds (e.g. DALE's ω = 1 and boundary membership) on a fresh run."""
        parts = [p for p in self.parts if p.initial_rounds]
        if not parts or self.store.current_round > 0:
            return

        for part in parts:
            part.prepare_initial(cases, load_case)

        def init_case(case: str, round_index: int) -> dict:
            data, label, _ = load_case(case)
            cr = CaseRound(case=case, label=label, maps={}, data=data)
            for part in parts:
                part.initial_case(cr)
            self.store.stage_case(round_index, case, cr.label, omega=cr.omega, fuzzy=cr.fuzzy)
            return {}

        run_synchronised_round(self.store, cases, init_case, summary={"kind": parts[0].initial_kind},
                               before_commit=lambda totals: self.excluded_cases())


class GroupedInference:
    """A round's whole-case inference for several small cases at once [ours, overhead].

    ``load_case(case)`` loads the case and, when its maps are not computed yet, also the next cases of this rank's
    share that need the same per-patch maps (the parts' ``wants_patch_maps``), up to ``group_voxels`` voxels in all,
    and infers the group in one batched pass; ``infer(data, patch_fn)`` then returns the maps of the case just loaded.
    A case larger than ``group_voxels`` is inferred alone (its own tiles still batched). At most one group of cases and
    maps is held in memory."""

    def __init__(self, engine: LabelRoundEngine, plan: RoundPlan, order: Sequence[str], load: LoadCase,
                 infer_many: InferMany, forward: Forward, group_voxels: int):
        self.engine, self.plan, self.order = engine, plan, list(order)
        self.load, self.infer_many, self.forward = load, infer_many, forward
        self.group_voxels = int(group_voxels)
        self.cache: dict[str, tuple] = {}
        self.pending: dict[str, tuple] = {}
        self.current: Optional[str] = None

    def _wants(self, case: str) -> tuple:
        return tuple(p.wants_patch_maps(self.plan, case) for p in self.engine.parts)

    def _fill(self, case: str) -> None:
        """Load and infer the group that starts with ``case`` (this rank's next case without maps)."""
        self.cache.clear()
        wants = self._wants(case)
        group: list[str] = []
        loaded: dict[str, tuple] = {}
        voxels = 0
        for other in self.order[self.order.index(case):]:
            if group and self._wants(other) != wants:
                break
            arrays = self.pending.pop(other, None) or self.load(other)
            size = int(np.prod(arrays[0].shape[1:]))
            if group and voxels + size > self.group_voxels:
                self.pending = {other: arrays}     # loaded already: the next group starts with it
                break
            group.append(other)
            loaded[other] = arrays
            voxels += size
        maps = self.infer_many([loaded[c][0] for c in group], self.engine.patch_callback(self.plan, self.forward, case))
        for c, m in zip(group, maps):
            self.cache[c] = (*loaded[c], m)

    def load_case(self, case: str):
        if case not in self.cache:
            self._fill(case)
        self.current = case
        data, label, stats, _ = self.cache[case]
        return data, label, stats

    def infer(self, data: np.ndarray, patch_fn) -> dict[str, np.ndarray]:
        maps = self.cache.pop(self.current)[3]
        self.current = None
        return maps
