"""Dice / IoU / HD95 / ASSD on masks whose values are worked out by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from nnunet_svl.tools.metrics import assd, binary_metrics, dice, hd95, iou


def _box(shape, lo, hi) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(slice(a, b) for a, b in zip(lo, hi))] = True
    return mask


def _ball(shape, center, radius) -> np.ndarray:
    grid = np.indices(shape)
    return sum((g - c) ** 2 for g, c in zip(grid, center)) <= radius ** 2


def test_cubes_offset_by_two_voxels_overlap():
    ref = _box((16, 16, 16), (2, 2, 2), (12, 12, 12))
    pred = _box((16, 16, 16), (4, 2, 2), (14, 12, 12))
    # each cube 1000 voxels, overlap 8·10·10 = 800: Dice = 2·800/2000 = 0.8, IoU = 800/(2000−800) = 2/3
    assert dice(pred, ref) == pytest.approx(0.8)
    assert iou(pred, ref) == pytest.approx(800 / 1200)


@pytest.mark.parametrize("axis, expected_mm", [(0, 6.0), (1, 3.0), (2, 1.5)])
def test_hd95_of_shifted_cube_is_shift_times_spacing_of_that_axis(axis, expected_mm):
    spacing = (2.0, 1.0, 0.5)
    ref = _box((20, 20, 20), (4, 4, 4), (14, 14, 14))
    pred = np.roll(ref, 3, axis=axis)
    # pred's far face is 3 voxels from ref's far face, 3 · spacing[axis] mm, and no surface point is farther. Face
    # areas are 10·10·(1·0.5) = 50, 10·10·(2·0.5) = 100 and 10·10·(2·1) = 200 mm² (700 mm² in all), so the far face is
    # at least 50/700 = 7 % > 5 % of the surface: HD95 = HD = 3 · spacing[axis]
    assert hd95(pred, ref, spacing) == pytest.approx(expected_mm)


def test_single_voxels_three_apart_hand_computed_hd95_and_assd():
    ref = _box((12, 12, 12), (5, 5, 5), (6, 6, 6))
    pred = _box((12, 12, 12), (8, 5, 5), (9, 6, 6))
    # surfaces are the 8 voxel corners (equal surfel areas by symmetry). Along axis 0 (spacing 2 mm) pred's
    # corners lie at x = 8 and 9, ref's at x = 5 and 6: distances (8−6)·2 = 4 mm and (9−6)·2 = 6 mm, half each.
    # Both directions alike: ASSD = (4 + 6)/2 = 5 mm; HD95 = the larger one = 6 mm.
    spacing = (2.0, 1.0, 0.5)
    assert assd(pred, ref, spacing) == pytest.approx(5.0)
    assert hd95(pred, ref, spacing) == pytest.approx(6.0)


def test_2d_squares_shifted_along_second_axis():
    ref = _box((20, 20), (5, 5), (15, 15))
    pred = _box((20, 20), (5, 8), (15, 18))
    # overlap 10·7 = 70 of 100 each: Dice 140/200 = 0.7, IoU 70/130; HD = 3 px · 0.5 mm = 1.5 mm
    m = binary_metrics(pred, ref, (1.0, 0.5))
    assert m["dice"] == pytest.approx(0.7)
    assert m["iou"] == pytest.approx(70 / 130)
    assert m["hd95"] == pytest.approx(1.5)


def test_2d_single_pixels_hand_computed_assd():
    ref = _box((12, 12), (5, 5), (6, 6))
    pred = _box((12, 12), (5, 8), (6, 9))
    # corners along axis 1 (0.5 mm): distances (8−6)·0.5 = 1 mm and (9−6)·0.5 = 1.5 mm → ASSD 1.25, HD95 1.5 mm
    assert assd(pred, ref, (1.0, 0.5)) == pytest.approx(1.25)
    assert hd95(pred, ref, (1.0, 0.5)) == pytest.approx(1.5)


def test_sphere_against_itself_is_perfect():
    ball = _ball((21, 21, 21), (10, 10, 10), 7)
    assert binary_metrics(ball, ball.copy(), (1.0, 1.5, 0.7)) == {"dice": 1.0, "iou": 1.0, "hd95": 0.0, "assd": 0.0}


def test_binary_metrics_is_symmetric_and_matches_single_functions():
    spacing = (1.0, 2.0, 0.5)
    a = _ball((24, 24, 24), (11, 11, 11), 7)
    b = _box((24, 24, 24), (6, 8, 5), (18, 16, 20))
    ab, ba = binary_metrics(a, b, spacing), binary_metrics(b, a, spacing)
    assert ab == pytest.approx(ba)
    assert ab == pytest.approx({"dice": dice(a, b), "iou": iou(a, b), "hd95": hd95(a, b, spacing),
                                "assd": assd(a, b, spacing)})
    assert 0 < ab["assd"] <= ab["hd95"]
    # Dice and IoU are tied: IoU = D / (2 − D)
    assert ab["iou"] == pytest.approx(ab["dice"] / (2 - ab["dice"]))


def test_both_empty_is_a_perfect_match():
    empty = np.zeros((8, 8, 8), dtype=bool)
    assert binary_metrics(empty, empty.copy(), (1.0, 1.0, 1.0)) == {"dice": 1.0, "iou": 1.0, "hd95": 0.0,
                                                                     "assd": 0.0}


@pytest.mark.parametrize("pred_empty", [True, False])
def test_exactly_one_empty_gives_zero_overlap_and_undefined_distances(pred_empty):
    empty = np.zeros((8, 8), dtype=bool)
    full = _box((8, 8), (2, 2), (5, 5))
    pred, ref = (empty, full) if pred_empty else (full, empty)
    m = binary_metrics(pred, ref, (1.0, 1.0))
    assert m["dice"] == 0.0 and m["iou"] == 0.0
    assert math.isnan(m["hd95"]) and math.isnan(m["assd"])
    assert math.isnan(hd95(pred, ref, (1.0, 1.0))) and math.isnan(assd(pred, ref, (1.0, 1.0)))


def test_bad_inputs_are_rejected():
    mask = np.zeros((4, 4, 4), dtype=bool)
    with pytest.raises(TypeError, match="bool"):
        dice(mask.astype(np.uint8), mask)
    with pytest.raises(ValueError, match="shapes differ"):
        iou(mask, mask[:3])
    with pytest.raises(ValueError, match="spacing"):
        hd95(mask, mask, (1.0, 1.0))
    with pytest.raises(ValueError, match="2-D or 3-D"):
        binary_metrics(mask[0, 0], mask[0, 0], (1.0,))
