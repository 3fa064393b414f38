"""Correction-quality figures and AUROC against hand-checked numbers (nnunet_svl/diagnostics/quality.py)."""
from __future__ import annotations

import math

import numpy as np

from nnunet_svl.diagnostics.quality import (auroc, auroc_from_histograms, case_record, foreground_dice,
                                            summarise)


def test_auroc_hand_checked():
    # positives 0.9, 0.4; negatives 0.5, 0.1: pairs (0.9>0.5, 0.9>0.1, 0.4<0.5, 0.4>0.1) → 3/4
    assert auroc(np.array([0.9, 0.4, 0.5, 0.1]), np.array([1, 1, 0, 0], bool)) == 0.75
    assert auroc(np.array([0.5, 0.5]), np.array([1, 0], bool)) == 0.5          # a tie counts half
    assert math.isnan(auroc(np.array([0.3]), np.array([1], bool)))


def test_auroc_from_histograms_matches_ranks():
    # bins 0..3; positives (low ω expected): 2 in bin 0, 1 in bin 2; negatives: 1 in bin 1, 2 in bin 3
    hp, hn = np.array([2, 0, 1, 0]), np.array([0, 1, 0, 2])
    # low is positive: (bin0 vs all 3 negatives: 2·3) + (bin2 vs the 2 in bin3: 1·2) = 8 of 9
    assert auroc_from_histograms(hp, hn, high_is_positive=False) == 8 / 9
    scores = np.array([0, 0, 2, 1, 3, 3], float)
    assert auroc(-scores, np.array([1, 1, 1, 0, 0, 0], bool)) == 8 / 9


def test_case_record_and_summary():
    given = np.array([1, 1, 1, 1, 0, 0, 0, 0])      # dilated: voxels 2, 3 are wrong
    clean = np.array([1, 1, 0, 0, 0, 0, 0, 0])
    before = given.copy()
    after = np.array([1, 1, 0, 1, 0, 1, 0, 0])      # fixed voxel 2, broke voxel 5
    valid = np.ones(8, bool)
    omega = np.array([1.0, 1.0, 0.2, 0.4, 1.0, 0.6, 1.0, 1.0])
    rec = case_record(given, before, after, clean, [0, 1], valid, omega=omega, case_score=0.3)
    assert rec["noisy_case"] and rec["flipped"] == 2 and rec["flipped_correct"] == 1
    assert rec["noisy_voxels"] == 2 and rec["noisy_fixed"] == 1 and rec["broken"] == 1
    assert rec["in_force_dice"]["1"] == (2, 4 + 2)   # after fg {0,1,3,5} ∩ clean {0,1} = 2; sizes 4 + 2
    clean_case = case_record(clean, clean, clean, clean, [0, 1], valid, omega=np.ones(8), case_score=0.1)
    s = summarise([rec, clean_case])
    assert s["flip_precision_noisy"] == 0.5 and s["recall_noisy"] == 0.5 and s["net_fixed_noisy"] == 0
    assert math.isnan(s["flip_precision_clean"]) and s["net_fixed_clean"] == 0
    assert s["dice_in_force_c1_clean"] == 1.0
    # ω: noisy voxels 0.2, 0.4 are below every clean voxel (0.6 and 1.0s) → AUROC 1
    assert s["omega_auroc_voxels"] == 1.0
    assert s["case_score_auroc"] == 1.0
    # per class: the flip to 0 (voxel 2) is right, the flip to 1 (voxel 5) wrong; both noisy voxels are clean
    # background, one fixed; voxel 5 (clean background) broken
    assert s["flip_precision_c0_noisy"] == 1.0 and s["flip_precision_c1_noisy"] == 0.0
    assert s["recall_c0_noisy"] == 0.5 and math.isnan(s["recall_c1_noisy"])
    assert s["net_fixed_c0_noisy"] == 0 and s["net_fixed_c1_noisy"] == 0


def test_flip_figures_per_class_add_up_to_the_pooled_ones():
    """Three classes, hand-checked: given [0,1,2,2], clean [0,2,2,1] (voxels 1 and 3 noisy), after [1,2,2,1]
    (flips: v0 0→1 wrong, v1 1→2 right, v3 2→1 right). Class 0: no flip to 0, v0 broken → net −1; class 1: flips
    v0, v3 → precision 1/2, noisy v3 fixed → recall 1, net +1; class 2: flip v1 right, noisy v1 fixed, net +1.
    Pooled: precision 2/3, recall 1, net +1 = −1 + 1 + 1."""
    given, clean, after = np.array([0, 1, 2, 2]), np.array([0, 2, 2, 1]), np.array([1, 2, 2, 1])
    s = summarise([case_record(given, given, after, clean, [0, 1, 2], np.ones(4, bool))])
    assert math.isnan(s["flip_precision_c0_noisy"]) and s["flips_c0_noisy"] == 0 and s["net_fixed_c0_noisy"] == -1
    assert s["flip_precision_c1_noisy"] == 0.5 and s["recall_c1_noisy"] == 1.0 and s["net_fixed_c1_noisy"] == 1
    assert s["flip_precision_c2_noisy"] == 1.0 and s["recall_c2_noisy"] == 1.0 and s["net_fixed_c2_noisy"] == 1
    assert s["flip_precision_noisy"] == 2 / 3 and s["recall_noisy"] == 1.0 and s["net_fixed_noisy"] == 1
    assert sum(s[f"flips_c{c}_noisy"] for c in range(3)) == s["flips_noisy"]


def test_foreground_dice_pairs_add_up():
    pred = np.array([0, 1, 1, 2, 0])
    ref = np.array([0, 1, 0, 2, 2])
    valid = np.array([True, True, True, True, False])
    # class 1: overlap 1, sizes 2 + 1; class 2: overlap 1, sizes 1 + 1 (voxel 4 invalid)
    assert foreground_dice(pred, ref, [0, 1, 2], valid) == (2 * 2, 3 + 2)


def test_cases_found_noisy_by_the_gate_or_the_edge_repair():
    """Found noisy = flagged by the teacher gate or moved by the edge repair: 4 noisy cases (one flagged, one moved,
    one both, one neither) and 2 clean ones (one moved): found 4, of which 3 noisy → precision 3/4, recall 3/4; the
    gate alone: precision 2/2, recall 2/4."""
    clean = np.array([1, 1, 0, 0])
    noisy = np.array([1, 1, 1, 0])
    valid = np.ones(4, bool)

    def rec(given, flagged, repaired):
        return case_record(given, given, given, clean, [0, 1], valid, flagged=flagged, repaired=repaired)

    s = summarise([rec(noisy, True, False), rec(noisy, False, True), rec(noisy, True, True), rec(noisy, False, False),
                   rec(clean, False, True), rec(clean, False, False)])
    assert s["found_noisy"] == 4 and s["repaired_cases"] == 3 and s["found_clean_cases"] == 1
    assert s["found_precision"] == 0.75 and s["found_recall"] == 0.75
    assert s["flag_precision"] == 1.0 and s["flag_recall"] == 0.5
    # without the edge repair (repaired None) there are no found_* figures
    assert "found_noisy" not in summarise([rec(noisy, True, None)])
