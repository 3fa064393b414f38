"""The teacher gate's pieces, hand-checked: robust case flags, the disagreement score, the EMA teacher."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nnunet_svl.teacher.case_flags import (boundary_offset, disagreement_score, flag_cases, flag_edge_absent,
                                           flag_over_drawn, flag_threshold, image_confirmed, teacher_confident)
from nnunet_svl.teacher.ema import EMATeacher


def test_flag_threshold_uses_the_lower_half():
    # lower half of 8 scores: 0.02 0.04 0.05 0.05 → median 0.045, MAD median(|.|) of (0.025, 0.005, 0.005, 0.005) = 0.005
    scores = np.array([0.05, 0.02, 0.04, 0.05, 0.30, 0.45, 0.5, 0.06])
    t = flag_threshold(scores, k=3.0, margin=0.0)
    assert t == pytest.approx(0.045 + 3 * 1.4826 * 0.005)
    assert flag_threshold(scores, k=3.0, margin=0.1) == pytest.approx(0.145)   # the margin wins over 3·σ = 0.022
    flagged = flag_cases(dict(zip("abcdefgh", scores)), k=3.0, margin=0.1)
    assert flagged == {"e", "f", "g"}
    assert flag_threshold(np.array([0.1, 0.9, 0.2]), 3.0, 0.0) == math.inf   # too few cases to judge


def test_every_case_alike_flags_nothing():
    # a bias shared by all cases (e.g. every label dilated) leaves no outlier
    scores = {f"c{i}": 0.30 + 0.01 * (i % 3) for i in range(10)}
    assert flag_cases(scores, k=3.0, margin=0.1) == set()


def test_disagreement_score():
    teacher = np.array([0, 1, 1, 1, 2])
    given = np.array([0, 1, 1, 0, 2])
    valid = np.ones(5, bool)
    # class 1: overlap 2, sizes 3 + 2; class 2: overlap 1, sizes 1 + 1 → Dice 2·3 / 7
    assert disagreement_score(teacher, given, valid) == pytest.approx(1 - 6 / 7)
    assert disagreement_score(np.zeros(3), np.zeros(3), np.ones(3, bool)) == 0.0


def test_disagreement_counts_only_where_the_teacher_is_confident():
    teacher = np.array([0, 1, 1, 1, 1, 1])
    given = np.array([0, 1, 1, 0, 0, 1])
    valid = np.ones(6, bool)
    # argmax: |t △ g| = 2 voxels, |t| + |g| = 5 + 3 = 8 → 2/8
    assert disagreement_score(teacher, given, valid) == pytest.approx(2 / 8)
    # the teacher is unsure at voxel 4 (a wide boundary band): only voxel 3 counts → 1/8
    probs_fg = np.array([0.05, 0.99, 0.98, 0.95, 0.6, 0.97])
    probs = np.stack([1 - probs_fg, probs_fg])
    confident = teacher_confident(probs, 0.9)
    assert confident.tolist() == [True, True, True, True, False, True]
    assert disagreement_score(teacher, given, valid, confident) == pytest.approx(1 / 8)
    assert teacher_confident(probs, 0.5).all()                       # 0.5: every voxel, the argmax score
    assert disagreement_score(teacher, given, valid, teacher_confident(probs, 0.5)) == pytest.approx(2 / 8)
    # regions (sigmoids): every region must be decided; 0.3 → 1 − 0.3 = 0.7 < 0.9 is not confident
    regions = np.array([[0.95, 0.3, 0.02], [0.99, 0.99, 0.05]])
    assert teacher_confident(regions, 0.9, has_regions=True).tolist() == [True, False, True]


def test_least_over_drawn_case_is_not_flagged_by_unconfident_disagreement():
    # every label over-drawn, most by 3 voxels, two by 1, one by 4, around a 1-D "lesion" [10, 20); the teacher learned
    # p(fg) at distance d outside the lesion = the fraction of cases drawn at least d out: 1, 0.8, 0.8, 0.1, 0
    x = np.arange(40)
    d = np.where(x < 10, 10 - x, np.where(x >= 20, x - 19, 0))
    over = [1, 1, 3, 3, 3, 3, 3, 3, 3, 4]
    p_fg = np.array([np.mean([o >= di for o in over]) for di in d])
    probs = np.stack([1 - p_fg, p_fg])
    teacher = (p_fg > 0.5).astype(int)                 # lesion + 3 voxels each side: 16 voxels
    valid = np.ones(40, bool)
    confident = teacher_confident(probs, 0.9)          # sure at d <= 1 (p 1) and d >= 4 (p(bg) >= 0.9)
    scores = {f"c{i}": disagreement_score(teacher, (d <= o).astype(int), valid, confident) for i, o in enumerate(over)}
    scores_argmax = {f"c{i}": disagreement_score(teacher, (d <= o).astype(int), valid) for i, o in enumerate(over)}
    # argmax: the two least over-drawn cases score 4 / (16 + 12) against a lower half at 0 → flagged: the cleanest
    # cases treated as noisy; the most over-drawn one scores 2 / (16 + 18) = 0.059 < margin 0.1
    assert scores_argmax["c0"] == pytest.approx(4 / 28) and scores_argmax["c9"] == pytest.approx(2 / 34)
    assert flag_cases(scores_argmax, k=3.0, margin=0.1) == {"c0", "c1"}
    # confident only: c0/c1 differ where p = 0.8 → 0; c9 differs at d = 4 where the teacher is sure (p(bg) = 0.9)
    assert scores["c0"] == 0.0 and scores["c9"] == pytest.approx(2 / 34)
    assert flag_cases(scores, k=3.0, margin=0.1) == set()


def test_ema_teacher_moves_towards_the_student_and_stays_frozen():
    student = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        student.weight.fill_(0.0)
    teacher = EMATeacher(student, decay=0.9)
    with torch.no_grad():
        student.weight.fill_(1.0)
    # mean-teacher warm-up: decay_t = min(0.9, (1 + t) / (10 + t)) → 0.1 at t = 0, 2/11 at t = 1
    teacher.update(student)
    assert teacher.model.weight.item() == pytest.approx(0.9)        # 0.1·0 + 0.9·1
    teacher.update(student)
    assert teacher.model.weight.item() == pytest.approx(0.9 * 2 / 11 + 9 / 11)
    for _ in range(78):                                              # t = 80: (1 + 80) / 90 = 0.9, the cap
        teacher.update(student)
    assert int(teacher.updates.item()) == 80
    with torch.no_grad():
        student.weight.fill_(0.0)
    before = teacher.model.weight.item()
    teacher.update(student)
    assert teacher.model.weight.item() == pytest.approx(0.9 * before)
    state = teacher.state_dict()
    state["updates"] = torch.tensor(1000.0)
    teacher.load_state_dict(state)                                   # a resumed run: the host count is re-read
    assert isinstance(teacher.decay_now(), float) and teacher.decay_now() == pytest.approx(0.9)
    assert not any(p.requires_grad for p in teacher.parameters())
    teacher.train()
    assert not teacher.model.training


def test_ema_teacher_update_is_bit_for_bit_the_device_tensor_formula():
    # the decay is computed on the host (no .item() per step) in float32, exactly as the float32 buffer did:
    # teacher ← lerp(teacher, student, 1 − min(decay, (1 + t) / (10 + t))) with t a float32 count
    torch.manual_seed(0)
    student = nn.Sequential(nn.Linear(7, 5), nn.Linear(5, 3))
    teacher = EMATeacher(student, decay=0.99)
    reference = [p.detach().clone() for p in teacher.model.parameters()]
    t = torch.zeros((), dtype=torch.float32)
    for _ in range(300):
        with torch.no_grad():
            for p in student.parameters():
                p.add_(torch.randn_like(p) * 0.1)
        teacher.update(student)
        weight = (1.0 - torch.clamp((1.0 + t) / (10.0 + t), max=0.99)).item()
        torch._foreach_lerp_(reference, [p.detach() for p in student.parameters()], weight)
        t += 1
    for mine, ref in zip(teacher.model.parameters(), reference):
        assert torch.equal(mine, ref)


def test_select_channels_takes_a_run_of_channels_as_a_view():
    from nnunet_svl.parts.voxels import select_channels
    x = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    view = select_channels(x, [1, 2, 3])
    assert torch.equal(view, x[:, [1, 2, 3]]) and view.data_ptr() == x[:, 1:].data_ptr()
    assert torch.equal(select_channels(x, [0, 2]), x[:, [0, 2]])      # not consecutive: an index, as before


def _gate_case(flagged: bool):
    from nnunet_svl.parts.base import CaseRound
    # 4 voxels, given label 0 1 1 0; teacher probabilities of class 1: 0.05, 0.95, 0.6, 0.97
    p1 = np.array([0.05, 0.95, 0.6, 0.97], dtype=np.float32)
    teacher = np.stack([1 - p1, p1])
    given = np.array([[0, 1, 1, 0]], dtype=np.int16)
    case = CaseRound(case="c", label=given.copy(), maps={"teacher": teacher},
                     omega=np.full((1, 4), 1.5, np.float32), fuzzy=np.full((1, 4), 0.5, np.float32))
    case.flagged = flagged
    case.teacher_label = (p1 > 0.5).astype(np.int16)
    case.disputed = case.teacher_label != given[0]
    return case


def test_dale_gate_weights():
    from dataclasses import replace

    from nnunet_svl.dale.part import DalePart
    from nnunet_svl.parts.base import LabelSpace
    from nnunet_svl.runtime.config import SVLConfig

    space = LabelSpace((1,), None, False, 2)
    # an unflagged case trains exactly as with nnU-Net: ω = 1, m = 0 → weight 1 everywhere
    case = _gate_case(False)
    DalePart(SVLConfig(use_dale=True), space, 10).apply_gate(case)
    assert case.omega.tolist() == [[1, 1, 1, 1]] and case.fuzzy.tolist() == [[0, 0, 0, 0]]
    # flagged, trust 0: only the disputed voxel 3 (label 0, teacher 0.97 for class 1) is dropped (ω 0, m 1)
    case = _gate_case(True)
    DalePart(SVLConfig(use_dale=True, teacher_trust_confidence=0.0), space, 10).apply_gate(case)
    assert case.omega.tolist() == [[1.5, 1.5, 1.5, 0.0]] and case.fuzzy.tolist() == [[0.5, 0.5, 0.5, 1.0]]
    # flagged, trust 0.9: voxel 2 (label 1, teacher 0.6) is dropped too; voxels 0 (0.95) and 1 (0.95) keep DALE's ω
    case = _gate_case(True)
    dale = DalePart(replace(SVLConfig(use_dale=True), teacher_trust_confidence=0.9), space, 10)
    dale.apply_gate(case)
    assert case.omega.tolist() == [[1.5, 1.5, 0.0, 0.0]]
    # voxel 3 flipped to 1: its weight is the teacher's confidence in the new label
    case.label[0, 3] = 1
    dale.apply_gate(case, flipped=np.array([False, False, False, True]))
    assert case.omega[0, 3] == pytest.approx(0.97) and case.fuzzy[0, 3] == 1.0


def test_flags_wait_for_a_network_that_has_learned_something_and_are_redecided():
    from dataclasses import replace

    from nnunet_svl.parts.base import LabelSpace, RoundPlan
    from nnunet_svl.runtime.config import SVLConfig
    from nnunet_svl.teacher.part import TeacherGatePart

    cfg = replace(SVLConfig(use_dale=True), gate_start=0, correction_min_agreement=0.3, case_flag_margin=0.25)
    gate = TeacherGatePart(cfg, LabelSpace((1,), None, False, 2), 10, nn.Conv3d(1, 2, 1))
    # the 6-case fixture with a network that predicts no lesion yet: the empty (noisy) labels score 0, the cases
    # with a lesion 1 — flagging now would flag the clean cases
    immature = {"a": 1.0, "b": 1.0, "c": 0.0, "d": 0.0, "e": 0.0, "f": 1.0}
    gate._scores = dict(immature)
    gate.finish_round(RoundPlan(epoch=1), {"agree_overlap": 0, "agree_total": 3622})     # agreement 0 < 0.3
    assert gate.flagged == set()
    # once the network agrees with the labels (2·40/200 = 0.4), an outlier is flagged ...
    gate._scores = {"a": 0.2, "b": 0.25, "c": 0.22, "d": 0.9, "e": 0.18, "f": 0.21}
    gate.finish_round(RoundPlan(epoch=2), {"agree_overlap": 40, "agree_total": 200})
    assert gate.flagged == {"d"}
    assert gate.excluded_cases() == {"d"}          # flagged_case_sampling < 1: the data loader leaves it out
    # ... and unflagged again when it no longer stands out
    gate._scores = {"a": 0.2, "b": 0.25, "c": 0.22, "d": 0.24, "e": 0.18, "f": 0.9}
    gate.finish_round(RoundPlan(epoch=3), {"agree_overlap": 40, "agree_total": 200})
    assert gate.flagged == {"f"}
    assert gate.touches(["a", "f"]) and not gate.touches(["a", "d"])


def test_va3c_rollout_only_on_batches_with_a_flagged_case_and_not_on_dropped_voxels(monkeypatch):
    """Under the gate the head trains only on batches holding a flagged case (elsewhere: no rollout, nnU-Net's cost),
    and voxels DALE dropped (ω = 0, disputed) give no reward: the head must not learn to restore a disputed label."""
    import nnunet_svl.rl.part as rl_part
    from nnunet_svl.parts.base import Batch, LabelSpace
    from nnunet_svl.runtime.config import SVLConfig

    space = LabelSpace(foreground_labels=(1,), ignore_label=None, has_regions=False, num_heads=2)
    cfg = SVLConfig(use_rl=True, use_dale=True, warmup_end=0, transition_end=0)
    part = rl_part.VA3CPart(cfg, space, 10, feature_channels=4, dim=3, num_input_channels=1,
                            device=torch.device("cpu"))
    part.build_modules()
    part.batch_filter = lambda keys: "noisy" in keys
    g = torch.Generator().manual_seed(0)
    label = (torch.rand(1, 1, 6, 6, 6, generator=g) > 0.5).float()
    omega = torch.ones_like(label)
    omega[..., :3] = 0.0                      # half of the patch disputed

    def batch(keys):
        return Batch(data=torch.randn(1, 1, 6, 6, 6, generator=g), output=torch.randn(1, 2, 6, 6, 6, generator=g),
                     labels=label, omega=omega, fuzzy=1 - omega, features=torch.randn(1, 4, 6, 6, 6, generator=g),
                     keys=keys, epoch=5)

    masks = []
    original = rl_part.rollout
    monkeypatch.setattr(rl_part, "rollout", lambda *a, **k: masks.append(k["valid_mask"]) or original(*a, **k))
    total = torch.tensor(1.0)
    state = part.generator.get_state()
    logged = {}
    assert part.add_loss_terms(batch(["clean_a", "clean_b"]), total, logged) is total
    assert logged == {} and not masks and torch.equal(state, part.generator.get_state())   # no rollout, no draw
    out = part.add_loss_terms(batch(["clean_a", "noisy"]), total, logged)
    assert out is not total and "rl_value_loss" in logged and len(masks) == 1
    assert not masks[0][..., :3].any() and masks[0][..., 3:].all()
    part.batch_filter = None                  # no gate (the _Paper ablations): every batch, every valid voxel
    part.add_loss_terms(batch(["clean_a"]), total, {})
    assert len(masks) == 2 and masks[1].all()


def test_boundary_offset_in_voxels_of_the_given_boundary():
    # a 4×4×4 cube in a 6×6×6 volume: 64 voxels, 8 inside voxels (the 2×2×2 core), so 56 boundary voxels; the teacher
    # expects 64 − 28 = 36 voxels of foreground → the label reaches (64 − 36) / 56 = 0.5 voxels further out
    given = np.zeros((6, 6, 6), bool)
    given[1:5, 1:5, 1:5] = True
    expected = np.where(given, 36 / 64, 0.0)
    valid = np.ones_like(given)
    assert boundary_offset(given, expected, valid) == pytest.approx(0.5)
    assert boundary_offset(given, np.where(given, 1.0, 0.0) + 0.0, valid) == pytest.approx(0.0)
    assert boundary_offset(np.zeros_like(given), expected, valid) == 0.0        # empty label: nothing to judge
    # ignored voxels count neither in the label nor in the expectation
    half = valid.copy()
    half[:3] = False
    assert boundary_offset(given, expected, half) == pytest.approx((32 - 18) / 32)   # the lower half: 32 voxels, all boundary


def test_flag_over_drawn_is_relative_to_the_cases_judged_clean():
    offsets = {"a": -0.4, "b": 0.1, "c": -0.2, "d": 0.3, "e": 2.9, "f": -300.0, "g": 0.2}
    # "f" (an eroded case) is flagged already and leaves the reference: the lower half of the other six offsets
    # (-0.4, -0.2, 0.1) has median -0.2; with margin 2.5 only "e" (2.9 > 2.3) is over-drawn
    assert flag_over_drawn(offsets, {"f"}, 2.5) == {"e"}
    # why the reference leaves flagged cases out: with four eroded cases flagged by the confident score in a dataset of
    # eight, their offsets would be the lower half (median -65, cut -62.5) and every clean case (and two eroded ones)
    # would look over-drawn
    eroded = {"a": 0.1, "b": -0.2, "c": 0.0, "d": 1.2, "e1": -50.0, "e2": -60.0, "e3": -70.0, "e4": -80.0}
    assert flag_over_drawn(eroded, set(), 2.5) == {"a", "b", "c", "d", "e1", "e2"}
    assert flag_over_drawn(eroded, {"e1", "e2", "e3", "e4"}, 2.5) == set()   # reference median(-0.2, 0.0) = -0.1
    assert flag_over_drawn({"a": 5.0, "b": 0.0, "c": 0.1}, set(), 1.0) == set()    # fewer than 4 cases: none


def test_volume_flags_join_the_gate_flags_only_when_enabled():
    from dataclasses import replace

    from nnunet_svl.parts.base import LabelSpace, RoundPlan
    from nnunet_svl.runtime.config import SVLConfig
    from nnunet_svl.teacher.part import TeacherGatePart

    for margin, expected in ((0.0, {"d"}), (2.5, {"d", "e"})):
        cfg = replace(SVLConfig(use_dale=True), gate_start=0, case_flag_volume_margin=margin)
        gate = TeacherGatePart(cfg, LabelSpace((1,), None, False, 2), 10, nn.Conv3d(1, 2, 1))
        gate._scores = {"a": 0.2, "b": 0.25, "c": 0.22, "d": 0.9, "e": 0.18, "f": 0.21}
        gate._offsets = {"a": 0.1, "b": -0.3, "c": 0.2, "d": -5.0, "e": 3.0, "f": 0.0} if margin else {}
        gate.finish_round(RoundPlan(epoch=2), {"agree_overlap": 40, "agree_total": 200})
        assert gate.flagged == expected


def test_flag_edge_absent_needs_most_cases_to_have_a_step():
    # t of the edge fits; "e" has no fit (too little foreground): neither counted nor flagged. Fitted: 6 cases, 4 with
    # t >= 5 (a, b, d, g): at least 4 and at least half → the two below 5 are flagged (4.9 too: the cut is strict)
    t = {"a": 17.0, "b": 12.0, "c": 2.6, "d": 15.0, "e": float("nan"), "f": 4.9, "g": 10.0}
    assert flag_edge_absent(t, 5.0) == {"c", "f"}
    # exactly half of 8 with a step still judges; 4 of 9 does not (a dataset whose structure mostly has no edge)
    half = {"a": 17.0, "b": 12.0, "c": 1.0, "d": 2.0, "e": 3.0, "f": 15.0, "g": 16.0, "h": 0.5}
    assert flag_edge_absent(half, 5.0) == {"c", "d", "e", "h"}
    assert flag_edge_absent({**half, "i": 0.7}, 5.0) == set()
    # fewer than 4 cases with a step: none
    assert flag_edge_absent({"a": 17.0, "b": 12.0, "c": 11.0, "d": 1.0}, 5.0) == set()


def test_the_gate_flags_labels_without_an_edge_from_the_edge_parts_fits():
    """Real edge fits on the benchmark's phantoms: six labels on their edge, two eroded (by 2 voxels and by 1), one
    empty. A teacher that agrees with every label scores nothing, so only the image evidence flags — the eroded two,
    not the empty one (a scan without the structure is not under-drawn) — and only with ``case_flag_edge_absent``."""
    from dataclasses import replace

    from nnunet_svl.edge.part import EdgeRepairPart
    from nnunet_svl.parts.base import CaseRound, LabelSpace, RoundPlan
    from nnunet_svl.runtime.config import SVLConfig
    from nnunet_svl.teacher.part import TeacherGatePart
    from nnunet_svl.tools.demo_data import make_phantom
    from nnunet_svl.tools.noise import erode

    space = LabelSpace((1,), None, False, 2)
    cases = {}
    for i in range(6):
        image, clean = make_phantom(np.random.default_rng(i), (40, 40, 40))
        cases[f"clean{i}"] = (image, clean == 1)
        if i == 0:
            cases["eroded_by_2"] = (image, erode(clean == 1, 5))
        if i == 1:
            cases["eroded_by_1"] = (image, erode(clean == 1, 3))
            cases["empty"] = (image, np.zeros_like(clean, dtype=bool))
    for on, expected in ((True, {"eroded_by_1", "eroded_by_2"}), (False, set())):
        cfg = replace(SVLConfig(use_dale=True), gate_start=0, case_flag_edge_absent=on)
        edge = EdgeRepairPart(cfg, space)
        edge.log = lambda line: None
        gate = TeacherGatePart(cfg, space, 10, nn.Conv3d(1, 2, 1), edge_fit=edge.fits.get)
        logs = []
        gate.log = logs.append
        for name, (image, fg) in cases.items():
            label = fg.astype(np.int16)[None]
            edge.initial_case(CaseRound(case=name, label=label, maps={}, data=image[None]))
            teacher = np.stack([1.0 - fg, fg.astype(float)])            # agrees with the label: score 0
            gate.update_case(RoundPlan(epoch=2), CaseRound(case=name, label=label, maps={"teacher": teacher},
                                                            reference={"given": label}))
        assert edge.fits["eroded_by_2"].t_value < 5 <= min(edge.fits[f"clean{i}"].t_value for i in range(6))
        assert math.isnan(edge.fits["empty"].step_t) and edge.fits["eroded_by_2"].step_t == edge.fits[
            "eroded_by_2"].t_value                                     # no fit: NaN, not the t_value 0 it carries
        gate.finish_round(RoundPlan(epoch=2), {"agree_overlap": 180, "agree_total": 200})
        assert gate.flagged == expected
        assert any("without an intensity step" in line for line in logs) == on


def test_image_confirmed_needs_the_edge_and_a_step_like_the_other_on_edge_labels():
    # (offset, t, trusted). Within the 1-voxel tolerance and trusted: a, b, c, d, e; their t 17, 12, 20, 15, 48 have
    # median 17, so the cut is 1.5 · 17 = 25.5 and "e" (a label past its edge shows the whole step) is not confirmed;
    # "f" lies beyond the tolerance, "g" is not trusted, "h" has no fit
    fits = {"a": (-0.6, 17.0, True), "b": (-1.0, 12.0, True), "c": (0.2, 20.0, True), "d": (-0.3, 15.0, True),
            "e": (0.85, 48.0, True), "f": (2.5, 80.0, True), "g": (-0.5, 14.0, False),
            "h": (float("nan"), float("nan"), False)}
    assert image_confirmed(fits, 1.0) == {"a", "b", "c", "d"}
    assert image_confirmed(fits, 1.0, step_ratio=(0.5, 3.0)) == {"a", "b", "c", "d", "e"}
    # a faint step (a label a voxel short of its edge): on-edge t 17 12 20 15 48 5.2, median 16, band 8 to 24
    faint = {**fits, "i": (-1.0, 5.2, True)}
    assert image_confirmed(faint, 1.0) == {"a", "b", "c", "d"}
    assert image_confirmed(fits, 0.5) == set()        # within 0.5: a, c, d only — fewer than 4, no reference
    assert image_confirmed({k: fits[k] for k in "abcf"}, 1.0) == set()


def test_the_veto_stops_score_flags_at_image_confirmed_labels_only():
    from dataclasses import replace

    from nnunet_svl.parts.base import LabelSpace, RoundPlan
    from nnunet_svl.runtime.config import SVLConfig
    from nnunet_svl.teacher.part import TeacherGatePart

    # "hard" scores like the outliers but its label lies on an edge like the others'; "past" scores alike with the
    # whole step (t 3 x the median); "eroded" scores highest with no step at all (the under-drawn flag)
    scores = {"a": 0.05, "b": 0.04, "c": 0.06, "d": 0.05, "e": 0.07, "hard": 0.40, "past": 0.41, "eroded": 0.9}
    edge = {"a": (-1.0, 17.0, True), "b": (-0.6, 15.0, True), "c": (0.2, 19.0, True), "d": (-1.0, 12.0, True),
            "e": (-0.3, 21.0, True), "hard": (-0.6, 17.0, True), "past": (0.4, 52.0, True),
            "eroded": (-1.0, 1.1, False)}
    for veto, expected in ((True, {"past", "eroded"}), (False, {"hard", "past", "eroded"})):
        cfg = replace(SVLConfig(use_dale=True), gate_start=0, case_flag_edge_veto=veto)
        gate = TeacherGatePart(cfg, LabelSpace((1,), None, False, 2), 10, nn.Conv3d(1, 2, 1),
                               edge_fit=lambda case: None)
        logs = []
        gate.log = logs.append
        gate._scores, gate._edge = dict(scores), dict(edge)
        gate.finish_round(RoundPlan(epoch=2), {"agree_overlap": 180, "agree_total": 200})
        assert gate.flagged == expected
        assert any("the image confirms the label (['hard']" in line for line in logs) == veto


def test_a_label_qa_prior_flag_is_withdrawn_where_the_edge_repair_moved_the_label():
    """label-qa judged the annotation; a label the edge repair moved before training is not that annotation any more
    (``label_qa_withdraw_repaired``). Real edge fits on the benchmark's phantoms: a label dilated by 3 voxels (side 7)
    is moved, one eroded by 2 and a clean one are not; all three are prior flags. The decision survives a checkpoint."""
    from dataclasses import replace

    from nnunet_svl.edge.part import EdgeRepairPart
    from nnunet_svl.parts.base import CaseRound, LabelSpace
    from nnunet_svl.runtime.config import SVLConfig
    from nnunet_svl.teacher.part import TeacherGatePart
    from nnunet_svl.tools.demo_data import make_phantom
    from nnunet_svl.tools.noise import dilate, erode

    space = LabelSpace((1,), None, False, 2)
    image, clean = make_phantom(np.random.default_rng(0), (40, 40, 40))
    labels = {"dilated": dilate(clean == 1, 7), "eroded": erode(clean == 1, 5), "clean": clean == 1,
              "unflagged": dilate(clean == 1, 7)}
    prior = frozenset({"dilated", "eroded", "clean"})
    for withdraw, expected in ((True, {"eroded", "clean"}), (False, set(prior))):
        cfg = replace(SVLConfig(use_dale=True), label_qa_withdraw_repaired=withdraw)
        edge = EdgeRepairPart(cfg, space)
        edge.log = lambda line: None
        gate = TeacherGatePart(cfg, space, 10, nn.Conv3d(1, 2, 1), prior_flags=prior, edge_fit=edge.fits.get,
                               edge_moves=edge.moves)
        logs = []
        gate.log = logs.append
        assert gate.flagged == set(prior)                  # before the initial round: the prior as read
        for name, fg in labels.items():
            edge.initial_case(CaseRound(case=name, label=fg.astype(np.int16)[None], maps={}, data=image[None]))
        assert edge.moves("dilated") and edge.moves("unflagged") and not edge.moves("eroded") \
            and not edge.moves("clean")
        assert gate.excluded_cases() == expected
        assert gate.touches(["dilated"]) == (not withdraw) and gate.touches(["eroded"])
        assert any("withdrawn" in line and "dilated" in line for line in logs) == withdraw
        resumed = TeacherGatePart(cfg, space, 10, nn.Conv3d(1, 2, 1), prior_flags=prior, edge_fit=edge.fits.get,
                                  edge_moves=edge.moves)
        resumed.load_state_dict(gate.state_dict())
        assert resumed.flagged == expected


def test_with_only_reached_a_prior_flag_stands_where_the_repair_did_not_reach_the_edge():
    """``label_qa_withdraw_only_reached``: a moved label's flag is withdrawn only when the fit after the repair's
    last move lies within the tolerance. Real fits on the benchmark's phantom, ``edge_repair_steps`` 3: a label
    dilated by 3 voxels (side 7) fits +2.15, +1.30, −0.40 (reached); one dilated by 7 (side 15) fits +3.65, +3.35,
    +2.30 (moved three times, still beyond the edge: not reached); the clean label is not moved."""
    from dataclasses import replace

    from nnunet_svl.edge.part import EdgeRepairPart
    from nnunet_svl.parts.base import CaseRound, LabelSpace
    from nnunet_svl.runtime.config import SVLConfig
    from nnunet_svl.teacher.part import TeacherGatePart
    from nnunet_svl.tools.demo_data import make_phantom
    from nnunet_svl.tools.noise import dilate

    space = LabelSpace((1,), None, False, 2)
    image, clean = make_phantom(np.random.default_rng(0), (40, 40, 40))
    labels = {"side7": dilate(clean == 1, 7), "side15": dilate(clean == 1, 15), "clean": clean == 1}
    cfg = replace(SVLConfig(use_dale=True), label_qa_withdraw_only_reached=True)
    assert cfg.edge_repair_steps == 3 and cfg.edge_tolerance == 1.0
    edge = EdgeRepairPart(cfg, space)
    edge.log = lambda line: None
    prior = frozenset(labels)
    gate = TeacherGatePart(cfg, space, 10, nn.Conv3d(1, 2, 1), prior_flags=prior, edge_fit=edge.fits.get,
                           edge_moves=edge.reached_edge)
    gate.log = lambda line: None
    for name, fg in labels.items():
        edge.initial_case(CaseRound(case=name, label=fg.astype(np.int16)[None], maps={}, data=image[None]))
    offsets = {n: [round(f.offset, 2) for f in [edge.fits[n], *edge.refits.get(n, [])]] for n in labels}
    assert offsets == {"side7": [2.15, 1.3, -0.4], "side15": [3.65, 3.35, 2.3], "clean": [offsets["clean"][0]]}
    assert edge.moves("side7") and edge.moves("side15") and not edge.moves("clean")
    assert edge.reached_edge("side7") is True and edge.reached_edge("side15") is False
    assert edge.reached_edge("clean") is False and edge.reached_edge("never fitted") is None
    assert gate.excluded_cases() == {"side15", "clean"}
