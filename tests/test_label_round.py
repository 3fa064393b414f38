"""The label-round engine without nnU-Net: toy parts, a toy network and a real label store (hand-checked counts)."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from nnunet_svl.parts.base import CaseRound, LabelSpace, MethodPart, RoundPlan
from nnunet_svl.parts.label_round import LabelRoundEngine, agreement_counts
from nnunet_svl.parts.voxels import as_scales, first_scale, like, valid_voxels
from nnunet_svl.runtime.label_store import LabelStore

SPACE = LabelSpace(foreground_labels=(1,), ignore_label=None, has_regions=False, num_heads=2)


class Recorder(MethodPart):
    """Statistics part: due every 2nd epoch, writes ω = 0.5 everywhere, records what it saw."""

    initial_rounds = 1
    initial_kind = "toy_init"
    stats_kind = "toy_stats"

    def __init__(self):
        super().__init__()
        self.changes: list[int] = []

    def round_due(self, epoch: int) -> Optional[bool]:
        return (epoch + 1) % 2 == 0

    def initial_case(self, case: CaseRound) -> None:
        case.omega = np.ones(case.label.shape, np.float32)

    def update_case(self, plan: RoundPlan, case: CaseRound) -> dict:
        case.omega = np.full(case.label.shape, 0.5, np.float32)
        return {"seen": 1}

    def after_label_change(self, plan: RoundPlan, case: CaseRound, old_label: np.ndarray) -> None:
        self.changes.append(int((case.label != old_label).sum()))


class Corrector(MethodPart):
    """Correction part: from epoch 4 on, overrides the schedule (every epoch) and copies the network's argmax."""

    def round_due(self, epoch: int) -> Optional[bool]:
        return True if epoch >= 4 else None

    def plan_round(self, plan: RoundPlan, previous_agreement: Optional[float]) -> None:
        plan.correct = plan.epoch >= 4 and previous_agreement is not None

    def patch_maps(self, plan, x, logits, features):
        return {"twice": 2 * x} if plan.correct else {}

    def update_case(self, plan: RoundPlan, case: CaseRound) -> dict:
        if not plan.correct:
            return {}
        new = case.maps["probs"].argmax(0)[None].astype(np.int16)
        flipped = int((new != case.label).sum())
        case.label = new
        return {"flipped": flipped}


def _setup(tmp_path):
    # one case, 1×4×4 voxels: label has 4 foreground voxels, the toy network predicts foreground where x > 0 (6)
    data = np.zeros((1, 1, 4, 4), np.float32)
    data[0, 0, :2, :3] = 1.0
    label = np.zeros((1, 1, 4, 4), np.int16)
    label[0, 0, :2, :2] = 1

    def load_case(case):
        stored = store.load(case)
        return data, (stored.label if stored is not None else label), None

    def forward(x):
        logits = torch.cat([-x, x], dim=1) * 10
        return logits, x

    def infer(arr, patch_fn):
        return {k: v[0].numpy() for k, v in patch_fn(torch.as_tensor(arr)[None]).items()}

    store = LabelStore(tmp_path / "store")
    return store, load_case, forward, infer, label


def test_engine_schedules_plans_runs_and_commits(tmp_path):
    store, load_case, forward, infer, label = _setup(tmp_path)
    rec, cor = Recorder(), Corrector()
    engine = LabelRoundEngine([rec, cor], store, SPACE, max_rounds=2)
    engine.initialise(["c"], load_case)
    assert store.current_round == 1 and store.history()[0]["kind"] == "toy_init"
    assert np.all(store.load("c").omega == 1)
    # schedule: the recorder says every 2nd epoch; the corrector overrides from epoch 4
    assert [engine.due(e) for e in range(6)] == [False, True, False, True, True, True]
    assert engine.plan(0) is None
    plan = engine.plan(1)
    assert plan.kind == "toy_stats" and not plan.correct           # statistics only
    round_index, totals = engine.run(plan, ["c"], load_case, infer, forward)
    # agreement: prediction 6 fg voxels, label 4, overlap 4 → 2·4 / 10
    assert round_index == 2 and totals == {"agree_overlap": 4, "agree_total": 10, "seen": 1}
    assert engine.previous_agreement() == 0.8
    assert np.all(store.load("c").omega == 0.5)
    plan = engine.plan(4)
    assert plan.kind == "correction" and plan.correct
    _, totals = engine.run(plan, ["c"], load_case, infer, forward)
    assert totals["flipped"] == 2 and rec.changes == [2]            # the recorder heard of the 2 flipped voxels
    assert int(store.load("c").label.sum()) == 6
    # max_rounds counts correction rounds only: one more correction, then statistics rounds go on
    engine.run(engine.plan(5), ["c"], load_case, infer, forward)
    assert store.current_round == 4 and engine.corrections_done() == 2
    plan = engine.plan(6)
    assert plan is not None and not plan.correct and plan.kind == "toy_stats"
    assert [h["kind"] for h in store.history()] == ["toy_init", "toy_stats", "correction", "correction"]
    # a trainer with nothing but corrections has no round left to run
    only_corrections = LabelRoundEngine([cor], store, SPACE, max_rounds=2)
    assert not only_corrections.due(6) and only_corrections.plan(6) is None


def test_agreement_counts_ignore_and_outside_mask():
    space = LabelSpace(foreground_labels=(1,), ignore_label=2, has_regions=False, num_heads=2)
    label = np.array([[1, 1, 2, -1, 0]], np.int16)[None]          # (1, 1, 5)
    probs = np.array([[0.1, 0.9, 0.1, 0.1, 0.9], [0.9, 0.1, 0.9, 0.9, 0.1]], np.float32)[:, None]
    # valid: voxels 0, 1, 4; prediction fg at 0 (and 2, 3: not valid); label fg at 0, 1
    assert agreement_counts(label, probs, space) == {"agree_overlap": 1, "agree_total": 1 + 2}


def test_voxel_helpers():
    lab = np.array([-1, 0, 1, 2])
    assert valid_voxels(lab, None).tolist() == [False, True, True, True]
    assert valid_voxels(lab, 2).tolist() == [False, True, True, False]
    t = torch.tensor([-1, 2, 1])
    assert valid_voxels(t, 2).tolist() == [False, False, True]
    assert as_scales([1, 2]) == [1, 2] and as_scales(3) == [3]
    assert first_scale([4, 5]) == 4 and first_scale(6) == 6
    assert like([7, 8], [0, 0]) == [7, 8] and like([7], 0) == 7


def test_reference_and_valid_one_hot():
    space = LabelSpace(foreground_labels=(1, 2), ignore_label=3, has_regions=False, num_heads=3)
    label = torch.tensor([[[0, 1, 2, 3]]])                          # (B=1, 1, 4)
    ref, valid = space.reference_and_valid(label)
    assert ref.shape == (1, 2, 4) and ref[0, 0].tolist() == [0, 1, 0, 0] and ref[0, 1].tolist() == [0, 0, 1, 0]
    assert valid[0, 0].tolist() == [True, True, True, False]
    assert space.foreground_outputs == [1, 2] and space.classes == [0, 1, 2]


def test_a_label_change_is_reported_to_earlier_parts_only(tmp_path):
    """A part that resets the label before the others (the teacher gate) must not make a later part (DALE) update
    state it has not computed yet; a part that changes it after others (vA3C) notifies the earlier ones."""
    store, load_case, forward, infer, label = _setup(tmp_path)

    class Resetter(MethodPart):
        def round_due(self, epoch):
            return True

        def update_case(self, plan, case):
            case.label = np.zeros_like(case.label)       # always differs from the label (4 foreground voxels)
            return {}

    first, rec = Resetter(), Recorder()
    engine = LabelRoundEngine([first, rec], store, SPACE)
    engine.run(engine.plan(1), ["c"], load_case, infer, forward)
    assert rec.changes == []                              # the recorder came after: not notified
    assert int(store.load("c").label.sum()) == 0
