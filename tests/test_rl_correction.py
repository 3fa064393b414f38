"""Label-correction proposals (METHOD.md §1.2 "Dynamic iterative label update"), hand-checked voxel counts."""
from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest

from nnunet_svl.rl.correction import class_probabilities, propose_corrections


def cube_case():
    """12³ label with a 3³ cube (27 voxels) of class 1 at [3:6]³, and a refined map that is confident (.95) on the
    5³ block [2:7]³ (the cube plus a one-voxel shell of 125 − 27 = 98 voxels) and .05 elsewhere."""
    label = np.zeros((12, 12, 12), dtype=np.int16)
    label[3:6, 3:6, 3:6] = 1
    refined = np.full((1, 12, 12, 12), 0.05, dtype=np.float32)
    refined[0, 2:7, 2:7, 2:7] = 0.95
    return label, refined


def test_confident_shell_is_added():
    label, refined = cube_case()
    label_in, refined_in = label.copy(), refined.copy()
    new, stats = propose_corrections(label, refined, [1], tau=0.8)
    assert new.dtype == label.dtype and (new[2:7, 2:7, 2:7] == 1).all() and new.sum() == 125
    assert stats.n_flipped == stats.n_candidates == 98
    assert stats.added == {"1": 98} and stats.removed == {"1": 0}
    assert stats.n_rejected_new_components == 0
    assert np.array_equal(label, label_in) and np.array_equal(refined, refined_in)  # inputs untouched
    json.dumps(asdict(stats))


def test_isolated_confident_blob_is_rejected_while_the_shell_is_kept():
    label, refined = cube_case()
    refined[0, 9:11, 9:11, 9:11] = 0.95  # 8 voxels, 3 voxels away from the shell corner (6, 6, 6)
    new, stats = propose_corrections(label, refined, [1], tau=0.8)
    assert stats.n_candidates == 98 + 8
    assert stats.n_rejected_new_components == 1 and stats.n_rejected_voxels == 8
    assert stats.n_flipped == 98 and (new[9:11, 9:11, 9:11] == 0).all()


def test_low_confidence_changes_nothing():
    label, refined = cube_case()
    refined[0, 2:7, 2:7, 2:7] = 0.75  # P(fg) = .75 < τ = .8 on the shell; P(bg) = .25 inside the cube
    new, stats = propose_corrections(label, refined, [1], tau=0.8)
    assert np.array_equal(new, label) and stats.n_flipped == 0 and stats.n_candidates == 0
    _, looser = propose_corrections(label, refined, [1], tau=0.7)
    assert looser.n_flipped == 98


def test_ignore_and_outside_mask_voxels_never_change():
    label, refined = cube_case()
    label[2, 2:7, 2:7] = 2  # ignore label on the x = 2 face of the shell: 25 voxels
    label[6, 2:7, 2:7] = -1  # nnU-Net's outside-the-mask value on the x = 6 face: 25 voxels
    new, stats = propose_corrections(label, refined, [1], tau=0.8, ignore_label=2)
    assert (new[2, 2:7, 2:7] == 2).all() and (new[6, 2:7, 2:7] == -1).all()
    assert stats.n_flipped == 98 - 50


def test_omega_gate_blocks_confident_labels():
    label, refined = cube_case()
    omega = np.full(label.shape, 0.5, dtype=np.float32)
    omega[6] = 2.0  # the label is trusted on the x = 6 slice: its 25 shell voxels stay
    new, stats = propose_corrections(label, refined, [1], tau=0.8, omega=omega, omega_gate=1.0)
    assert stats.n_flipped == 98 - 25 and (new[6] == 0).all()
    with pytest.raises(ValueError, match="together"):
        propose_corrections(label, refined, [1], omega=omega)


def test_background_holes_rejected_boundary_erosion_kept():
    # 9³ label with a 5³ cube [2:7]³; the refined map calls the centre voxel and the x = 6 face background
    label = np.zeros((9, 9, 9), dtype=np.uint8)
    label[2:7, 2:7, 2:7] = 1
    refined = np.zeros((1, 9, 9, 9), dtype=np.float32)
    refined[0, 2:7, 2:7, 2:7] = 0.95
    refined[0, 4, 4, 4] = 0.05  # would punch an enclosed cavity → rejected
    refined[0, 6, 2:7, 2:7] = 0.05  # erosion from the boundary (touches old background) → kept: 25 voxels
    new, stats = propose_corrections(label, refined, [1], tau=0.8)
    assert new[4, 4, 4] == 1 and (new[6, 2:7, 2:7] == 0).all()
    assert stats.removed == {"1": 25} and stats.added == {"1": 0}
    assert stats.n_rejected_new_components == 1 and stats.n_rejected_voxels == 1
    assert new.dtype == np.uint8


def test_multi_class_2d():
    # 8×8: class 1 at rows 2–3, cols 2–3; class 2 at rows 2–3, cols 5–6
    label = np.zeros((8, 8), dtype=np.int16)
    label[2:4, 2:4] = 1
    label[2:4, 5:7] = 2
    p = np.zeros((2, 8, 8), dtype=np.float32)
    p[0, 2:5, 2:4] = 0.9  # class 1 grows by row 4, cols 2–3: 2 voxels
    p[1, 2:4, 4:7] = 0.9  # class 2 grows by col 4, rows 2–3: 2 voxels
    p[0, 2, 3], p[1, 2, 3] = 0.05, 0.9  # voxel (2, 3): class 1 → class 2 (P = .9 after renormalisation)
    p[1, 7, 0] = 0.9  # an isolated class-2 voxel: rejected
    new, stats = propose_corrections(label, p, [1, 2], tau=0.8)
    assert stats.added == {"1": 2, "2": 3} and stats.removed == {"1": 1, "2": 0}
    assert stats.n_flipped == 5 and stats.n_rejected_new_components == 1
    assert new[2, 3] == 2 and new[4, 2] == 1 and new[7, 0] == 0
    assert int((new == 1).sum()) == 4 - 1 + 2 and int((new == 2).sum()) == 4 + 3


def test_class_probabilities_renormalise():
    # fg beliefs .8 and .6 sum to 1.4 → p_bg = 0, then [0, .8, .6] / 1.4; a voxel with no belief is background
    probs = class_probabilities(np.array([[0.8, 0.0], [0.6, 0.0]], dtype=np.float32))
    assert probs[:, 0].tolist() == pytest.approx([0.0, 0.8 / 1.4, 0.6 / 1.4])
    assert probs[:, 1].tolist() == [1.0, 0.0, 0.0]


def test_shape_errors():
    label, refined = cube_case()
    with pytest.raises(ValueError, match="channels"):
        propose_corrections(label, refined, [1, 2])
    with pytest.raises(ValueError, match="shape"):
        propose_corrections(label[:-1], refined, [1])
    with pytest.raises(ValueError, match="omega shape"):
        propose_corrections(label, refined, [1], omega=np.ones((2, 2)), omega_gate=1.0)


def test_safeguards_support_band_and_kept_components():
    # a 6×6×6 cube labelled foreground in a 16³ volume; the refined belief says "all background", confidently
    label = np.zeros((16, 16, 16), np.int16)
    label[5:11, 5:11, 5:11] = 1
    refined = np.zeros((1, 16, 16, 16), np.float32)
    # without safeguards the whole object would go; keep_components keeps the component (216 voxels)
    new, stats = propose_corrections(label, refined, [1], tau=0.8)
    assert (new == label).all() and stats.n_rejected_voxels == 216
    # the network itself still says foreground (p = 0.9): support blocks every flip
    support = np.full((1, 16, 16, 16), 0.9, np.float32)
    new, stats = propose_corrections(label, refined, [1], tau=0.8, support=support, keep_components=False)
    assert stats.n_candidates == 0 and (new == label).all()
    # band: boundary voxels on both sides of the interface have distance 0, so band 0.5 lets exactly the cube's
    # outer face-neighbour shell (6·36 = 216 voxels) be added, although the belief covers a 12³ block
    refined = np.zeros((1, 16, 16, 16), np.float32)
    refined[0, 2:14, 2:14, 2:14] = 1.0
    new, stats = propose_corrections(label, refined, [1], tau=0.8, band=0.5, connectivity=6)
    grown = (new == 1) & (label == 0)
    assert grown.sum() == 216 and stats.added == {"1": 216}
