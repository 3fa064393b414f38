"""Decomposition ablations' algorithm pieces, hand-checked: the oracle gates, ω normalised across cases, and the
DALE part's normaliser bookkeeping over a round."""
from __future__ import annotations

import math

import numpy as np
import pytest

from nnunet_svl.dale.confidence import confidence_terms, label_confidence_across_cases
from nnunet_svl.dale.loss_stats import update_loss_stats
from nnunet_svl.dale.part import DalePart
from nnunet_svl.parts.base import CaseRound, LabelSpace, RoundPlan
from nnunet_svl.rl.part import oracle_gate
from nnunet_svl.runtime.config import SVLConfig
from nnunet_svl.runtime.errors import SVLInputError


def test_oracle_gates():
    label = np.array([1, 1, 0, 0])
    proposed = np.array([1, 0, 1, 0])        # two changes: voxel 1 (1→0), voxel 2 (0→1)
    clean = np.array([1, 0, 0, 0])           # only the change at voxel 1 is right
    new, reverted = oracle_gate("voxel", label, proposed, given=label, clean=clean)
    assert new.tolist() == [1, 0, 0, 0] and reverted == 1
    # case gate: the given label equals the clean one → nothing changes
    new, reverted = oracle_gate("case", label, proposed, given=clean, clean=clean)
    assert new.tolist() == label.tolist() and reverted == 2
    new, reverted = oracle_gate("case", label, proposed, given=label, clean=clean)
    assert new.tolist() == proposed.tolist() and reverted == 0
    with pytest.raises(ValueError):
        oracle_gate("nope", label, proposed, label, clean)


def test_confidence_across_cases_hand_checked():
    mean = np.array([0.0, math.log(2.0), 5.0])
    spread = np.zeros(3)
    valid = np.array([True, True, False])
    # η = 1: terms exp(-z) = 1, 0.5; normaliser 0.75 (say, the mean over all cases) → 4/3, 2/3; invalid → 1
    assert np.allclose(confidence_terms(mean[:2], spread[:2], 1.0), [1.0, 0.5])
    w = label_confidence_across_cases(mean, spread, 1.0, 1.0, 0.75, valid, clip=(0.0, 3.0))
    assert np.allclose(w, [4 / 3, 2 / 3, 1.0])
    with pytest.raises(ValueError):
        label_confidence_across_cases(mean, spread, 1.0, 1.0, 0.0, valid)


def test_dale_part_normalises_across_cases_from_the_previous_round():
    cfg = SVLConfig(use_dale=True, omega_normalisation="class_across_cases", dale_kappa=0.0)
    space = LabelSpace(foreground_labels=(1,), ignore_label=None, has_regions=False, num_heads=2)
    part = DalePart(cfg, space, num_epochs=10)
    plan = RoundPlan(epoch=5)
    label = np.array([[[1, 1, 0, 0]]], np.int16)       # (1, 1, 4)
    # network probabilities: p(label) = 1 for voxels 0, 2 (loss 0) and 0.5 for voxels 1, 3 (loss log 2)
    probs = np.array([[0.0, 0.5, 1.0, 0.5], [1.0, 0.5, 0.0, 0.5]], np.float32)[:, None]
    cr = CaseRound(case="a", label=label, maps={"probs": probs})
    counts = part.update_case(plan, cr)
    # per class: terms exp(-loss) = 1 and 0.5 → sum 1.5 over 2 voxels, for each class
    assert counts == pytest.approx({"dale_norm_sum_c0": 1.5, "dale_norm_n_c0": 2, "dale_norm_sum_c1": 1.5,
                                    "dale_norm_n_c1": 2}, rel=1e-3)   # loss history is float16
    # first round: no normaliser yet → per-case softmax (mean 1 per class): 1/0.75 and 0.5/0.75
    assert np.allclose(cr.omega[0, 0], [4 / 3, 2 / 3, 4 / 3, 2 / 3], atol=1e-3)
    # another case, all voxels at loss 0: the cross-case normaliser of class 1 is (1.5 + 2) / 4 = 0.875
    part.finish_round(plan, {"dale_norm_sum_c1": 3.5, "dale_norm_n_c1": 4, "dale_norm_sum_c0": 1.5,
                             "dale_norm_n_c0": 2})
    assert part.normalisers == {"1": 0.875, "0": 0.75}
    stats = update_loss_stats(None, np.zeros((1, 4), np.float32))
    w, _ = part.maps(plan, label, probs, stats, np.ones((1, 4), bool))
    assert np.allclose(w[0, 0], [1 / 0.875, 1 / 0.875, 1 / 0.75, 1 / 0.75], atol=1e-3)
    restored = DalePart(cfg, space, num_epochs=10)
    restored.load_state_dict(part.state_dict())
    assert restored.normalisers == part.normalisers


def test_new_config_keys_are_validated():
    with pytest.raises(SVLInputError, match="oracle_gate"):
        SVLConfig(oracle_gate="sometimes").validate()
    with pytest.raises(SVLInputError, match="case_gate"):
        SVLConfig(oracle_gate="flags", case_gate=False).validate()
    SVLConfig(oracle_gate="flags").validate()
    with pytest.raises(SVLInputError, match="omega_normalisation"):
        SVLConfig(omega_normalisation="global").validate()


def test_rollout_generator_state_from_another_device_reseeds():
    """A checkpoint written on CUDA holds a CUDA generator state; resuming with -device cpu must not fail (issue:
    raw RuntimeError): the CPU generator is re-seeded deterministically and the log says so."""
    import torch

    from nnunet_svl.rl.part import VA3CPart

    space = LabelSpace(foreground_labels=(1,), ignore_label=None, has_regions=False, num_heads=2)
    part = VA3CPart(SVLConfig(use_rl=True), space, 10, feature_channels=4, dim=3, num_input_channels=1,
                    device=torch.device("cpu"))
    messages = []
    part.log = messages.append
    cuda_like = {"rl_generator": torch.arange(16, dtype=torch.uint8), "rl_generator_device": "cuda"}
    part.load_state_dict(cuda_like)
    first = torch.rand(3, generator=part.generator)
    part.load_state_dict(cuda_like)
    assert torch.equal(first, torch.rand(3, generator=part.generator))   # deterministic
    assert messages and "cuda" in messages[0]
    # a state of the right kind is restored exactly
    state = part.state_dict()
    expected = torch.rand(2, generator=part.generator)
    part.load_state_dict(state)
    assert torch.equal(expected, torch.rand(2, generator=part.generator))
    # a wrong-size state claiming the same device is re-seeded too, not a raw RuntimeError
    part.load_state_dict({"rl_generator": torch.zeros(7, dtype=torch.uint8), "rl_generator_device": "cpu"})


def test_gated_oracle_flips_keep_only_the_teacher_gates_flips_to_the_clean_label():
    """``_OracleFlips`` (oracle_gate 'voxel' with the teacher gate): of a flagged case's gated flips only those to the
    clean label stay; the others are reverted to the label in force and counted. Hand-checked on 1×1×6 voxels."""
    import torch

    from nnunet_svl.rl.part import VA3CPart

    space = LabelSpace(foreground_labels=(1,), ignore_label=None, has_regions=False, num_heads=2)
    cfg = SVLConfig(use_rl=True, oracle_gate="voxel")
    part = VA3CPart(cfg, space, 10, feature_channels=4, dim=3, num_input_channels=1, device=torch.device("cpu"))
    given = np.array([[[[1, 1, 1, 0, 0, 0]]]], np.int16)          # (1, 1, 1, 6)
    clean = np.array([[[[1, 0, 1, 0, 1, 0]]]], np.int16)
    teacher_fg = np.array([[[0.99, 0.02, 0.01, 0.5, 0.97, 0.95]]], np.float32)  # confident except voxel 3
    teacher = np.stack([1 - teacher_fg, teacher_fg])
    teacher_label = (teacher_fg > 0.5).astype(np.int16)
    refined = teacher_fg[None].copy()                              # the agents agree with the teacher
    case = CaseRound(case="c", label=given.copy(), maps={"teacher": teacher, "refined": refined},
                     reference={"given": given, "clean": clean})
    case.flagged, case.teacher_label = True, teacher_label
    case.disputed = teacher_label != given[0]                      # voxels 1, 2, 4, 5
    plan = RoundPlan(epoch=5)
    plan.correct = True
    counts = part.update_case(plan, case)
    # gated flips: 1 (1→0, right), 2 (1→0, wrong: clean is 1), 4 (0→1, right), 5 (0→1, wrong); 3 unconfident
    assert case.label[0].ravel().tolist() == [1, 0, 1, 0, 1, 0]
    assert counts["oracle_reverted"] == 2 and counts["flipped"] == 2
    # an unflagged case is never touched
    other = CaseRound(case="d", label=given.copy(), maps={"teacher": teacher, "refined": refined},
                      reference={"given": given, "clean": clean})
    other.flagged, other.teacher_label = False, teacher_label
    assert part.update_case(plan, other) == {"flipped": 0} and np.array_equal(other.label, given)


@pytest.mark.parametrize("sampling, flipped", [(0.0, [1, 2]), (0.5, [1])])
def test_the_head_gates_flips_only_when_it_trains(sampling, flipped):
    """The default excludes flagged cases, so the vA3C head never sees a batch: its refined belief is neither asked
    for nor read, and a flagged case's flips are the teacher's confident disputed voxels. With flagged cases still
    sampled (``_SampleFlagged``) the head trains and must agree too. Hand-checked on 1×1×4 voxels: voxels 1 and 2
    are disputed and confident; the agents side with the teacher on voxel 1 only."""
    import torch

    from nnunet_svl.rl.part import VA3CPart

    space = LabelSpace(foreground_labels=(1,), ignore_label=None, has_regions=False, num_heads=2)
    part = VA3CPart(SVLConfig(use_rl=True, flagged_case_sampling=sampling), space, 10, feature_channels=4, dim=3,
                    num_input_channels=1, device=torch.device("cpu"))
    part.batch_filter = lambda keys: True
    assert part.head_trains == (sampling > 0)
    plan = RoundPlan(epoch=5)
    plan.correct = True
    assert part.wants_patch_maps(plan, "c") == (sampling > 0)
    given = np.array([[[[1, 1, 0, 0]]]], np.int16)
    teacher_fg = np.array([[[0.99, 0.03, 0.95, 0.02]]], np.float32)
    refined = np.array([[[[0.9, 0.1, 0.2, 0.1]]]], np.float32)      # agents: voxel 1 background, voxel 2 background
    case = CaseRound(case="c", label=given.copy(), maps={"teacher": np.stack([1 - teacher_fg, teacher_fg]),
                                                         **({"refined": refined} if sampling > 0 else {})})
    case.flagged, case.teacher_label = True, (teacher_fg > 0.5).astype(np.int16)
    case.disputed = case.teacher_label != given[0]
    counts = part.update_case(plan, case)
    changed = np.flatnonzero(case.label.ravel() != given.ravel()).tolist()
    assert changed == flipped and counts["flipped"] == len(flipped)


def _va3c_part(ablation: str):
    import torch

    from nnunet_svl.rl.part import VA3CPart
    from nnunet_svl.trainers.registry import ABLATIONS

    space = LabelSpace(foreground_labels=(1,), ignore_label=None, has_regions=False, num_heads=2)
    part = VA3CPart(SVLConfig(use_rl=True, **ABLATIONS[ablation]), space, num_epochs=10, feature_channels=4, dim=3,
                    num_input_channels=1, device=torch.device("cpu"))
    part.build_modules()
    return part


@pytest.mark.parametrize("ablation, reaches_network", [("Paper", True), ("DetachedHead", False)])
def test_detached_head_keeps_rl_gradients_out_of_the_network_features(ablation, reaches_network):
    """#12 (b): with the head's input features detached the RL losses train the head only; in the papers' design they
    reach the decoder features (and so the segmentation network). Full RL (epoch 5 of 10: paper stages end at 0.2 and
    0.35), one real rollout."""
    import torch

    from nnunet_svl.parts.base import Batch

    part = _va3c_part(ablation)
    assert part.stage(5) == 2
    torch.manual_seed(0)
    features = torch.randn(2, 4, 6, 6, 6, requires_grad=True)
    logits = torch.randn(2, 2, 6, 6, 6)
    label = (torch.rand(2, 1, 6, 6, 6) > 0.5).float()
    batch = Batch(data=torch.randn(2, 1, 6, 6, 6), output=logits, labels=label, omega=None, fuzzy=None,
                  features=features, keys=None, epoch=5)
    seg_loss = torch.tensor(1.0, requires_grad=True)
    total = part.add_loss_terms(batch, seg_loss, {})
    total.backward()
    head_grads = [p.grad for p in part.head.parameters() if p.grad is not None]
    assert head_grads and any(float(g.abs().sum()) > 0 for g in head_grads)     # the head trains either way
    if reaches_network:
        assert features.grad is not None and float(features.grad.abs().sum()) > 0
    else:
        assert features.grad is None
    # the papers' mixing scales the segmentation loss by 1 - alpha - beta in both (rl_loss_mixing "paper")
    assert float(seg_loss.grad) == pytest.approx(1 - part.cfg.alpha_value - part.cfg.beta_policy)


@pytest.mark.parametrize("ablation, corrects", [("Paper", True), ("NoCorrection", False)])
def test_no_correction_never_plans_or_proposes_a_change(ablation, corrects):
    """#12 (a): vA3C without corrections never turns a label round into a correction round, so the label in force
    stays the given one; the papers' design corrects in full RL once the network agrees enough."""
    part = _va3c_part(ablation)
    for epoch in range(10):
        plan = RoundPlan(epoch=epoch)
        part.plan_round(plan, previous_agreement=1.0)
        assert plan.correct == (corrects and part.stage(epoch) == 2), (ablation, epoch)
    label = np.array([[[[1, 1, 0, 0]]]], np.int16)
    case = CaseRound(case="a", label=label.copy(), maps={"probs": np.zeros((2, 1, 1, 4), np.float32)})
    assert part.update_case(RoundPlan(epoch=9), case) == {}     # a round that is not a correction round
    assert np.array_equal(case.label, label)
