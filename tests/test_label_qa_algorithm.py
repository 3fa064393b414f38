"""Label QA from held-out probabilities (nnunet_svl/qa/held_out.py), hand-checked."""
from __future__ import annotations

import numpy as np
import pytest

from nnunet_svl.qa.held_out import (balanced_sample, calibrate, case_score, class_thresholds, confusion_counts,
                                    fit_temperature, given_probability, region_problem, volume_ratios,
                                    voxel_suspicion)


def test_calibrate_is_softmax_of_log_probabilities_over_t():
    p = np.array([[0.8], [0.2]])
    q = calibrate(p, 2.0)          # softmax(log p / 2) ∝ sqrt(p): sqrt(.8) / (sqrt(.8) + sqrt(.2)) = 2/3
    assert q[:, 0] == pytest.approx([2 / 3, 1 / 3], abs=1e-6)
    assert calibrate(p, 1.0)[:, 0] == pytest.approx([0.8, 0.2], abs=1e-6)


def test_fit_temperature_recovers_the_overconfidence_factor():
    # labels drawn from softmax(z); the model reports softmax(3 z) (over-confident) → the NLL-optimal T is 3
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1.5, size=(20000, 3))
    true = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=t) for t in true])
    reported = np.exp(3 * z) / np.exp(3 * z).sum(1, keepdims=True)
    assert fit_temperature(np.log(reported), y) == pytest.approx(3.0, rel=0.05)


def test_balanced_sample_takes_each_class_equally_and_skips_ignore():
    probs = [np.stack([np.full((4, 5), 0.9), np.full((4, 5), 0.1)])]
    label = np.zeros((4, 5), np.int16)
    label[0, :3] = 1
    label[3, :] = -1
    lp, y = balanced_sample(probs, [label], per_class=3)
    assert sorted(y.tolist()) == [0, 0, 0, 1, 1, 1]
    assert lp.shape == (6, 2) and np.allclose(np.exp(lp[:, 0]), 0.9)


def test_thresholds_suspicion_and_label_issues_hand_checked():
    # 1-D "image" of 6 voxels, classes 0/1; the held-out model says voxel 4 (labelled 1) is background
    p1 = np.array([0.1, 0.2, 0.9, 0.8, 0.1, 0.6])
    probs = np.stack([1 - p1, p1])
    label = np.array([0, 0, 1, 1, 1, -1])
    t = class_thresholds([probs], [label])
    # class 0: mean p0 over voxels 0, 1 = (0.9 + 0.8) / 2; class 1: mean p1 over 2, 3, 4 = (0.9 + 0.8 + 0.1) / 3
    assert t == pytest.approx([0.85, 0.6])
    assert given_probability(probs, label) == pytest.approx([0.9, 0.8, 0.9, 0.8, 0.1, 1.0])
    suspicion, issue = voxel_suspicion(probs, label, t)
    assert suspicion == pytest.approx([0.1, 0.2, 0.1, 0.2, 0.9, 0.0], abs=1e-6)
    # voxel 1: p0 0.8 < t0 0.85 but p1 0.2 < t1: not confidently another class → no issue; voxel 4: p1 .1 < .6 and
    # p0 .9 ≥ .85 → issue; the ignored voxel never is
    assert issue.tolist() == [False, False, False, False, True, False]


def test_case_score_is_the_worst_class_dice_and_confusion_counts():
    probs = np.zeros((3, 5))
    probs[0] = [1, 0, 0, 0, 0]
    probs[1] = [0, .9, .6, 0, 0]
    probs[2] = [0, .1, .4, 1, 1]
    label = np.array([0, 1, 2, 2, 1])
    s = case_score("c", probs, label, np.zeros(5, bool))
    # argmax [0, 1, 1, 2, 2]: class 1 overlap 1, sizes 2 + 2 → 0.5; class 2: overlap 1, sizes 2 + 2 → 0.5
    assert s.per_class == pytest.approx({1: 0.5, 2: 0.5}) and s.noise_score == pytest.approx(0.5)
    assert s.foreground_voxels == 4
    assert confusion_counts(probs, label).tolist() == [[1, 0, 0], [0, 1, 1], [0, 1, 1]]
    empty = case_score("e", np.stack([np.ones(4), np.zeros(4)]), np.zeros(4, int), np.zeros(4, bool))
    assert empty.noise_score == 0.0 and empty.per_class == {}


def test_region_problem_is_membership_against_one_minus_p_and_p():
    # BraTS-style region "whole" = {1, 2} on 5 voxels labelled 0, 1, 2, 2, ignore(−1); sigmoid outputs p_whole
    label = np.array([0, 1, 2, 2, -1])
    p_whole = np.array([0.2, 0.9, 0.15, 0.7, 0.5])
    probs, membership = region_problem(p_whole, label, (1, 2))
    assert membership.tolist() == [0, 1, 1, 1, -1]
    assert probs[0] == pytest.approx([0.8, 0.1, 0.85, 0.3, 0.5]) and probs[1] == pytest.approx(p_whole)
    # the two-class machinery then judges the region: voxel 2 (inside the label, p 0.15) is the suspect one
    assert given_probability(probs, membership) == pytest.approx([0.8, 0.9, 0.15, 0.7, 1.0])
    t = class_thresholds([probs], [membership])     # outside: 0.8; inside: (0.9 + 0.15 + 0.7) / 3
    assert t == pytest.approx([0.8, 1.75 / 3])
    # voxel 2: p_inside .15 < .583 and p_outside .85 >= .8 → issue; voxel 3: p_inside .7 is above its threshold
    _, issue = voxel_suspicion(probs, membership, t)
    assert issue.tolist() == [False, False, True, False, False]
    # region "core" = {2}: voxel 1 (label 1) is outside it
    assert region_problem(np.array([0.1, 0.6, 0.8, 0.9, 0.5]), label, (2,))[1].tolist() == [0, 0, 1, 1, -1]


def test_volume_ratio_is_label_volume_over_expected_volume():
    # classes 0/1/2 on 5 voxels (the last ignored); expected volume of class 1 = 0.5 + 0.5 + 0 + 0 = 1.0 over the valid
    # voxels, label volume 2 → (2 + 1) / (1 + 1) = 1.5; class 2: label 1, expected 0.5 + 1 → (1 + 1) / (1.5 + 1) = 0.8
    probs = np.array([[0.5, 0.5, 0.5, 0.0, 0.0],
                      [0.5, 0.5, 0.0, 0.0, 1.0],
                      [0.0, 0.0, 0.5, 1.0, 0.0]])
    label = np.array([1, 1, 0, 2, -1])
    assert volume_ratios(probs, label) == pytest.approx({1: 1.5, 2: 0.8})
