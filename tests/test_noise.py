"""Noise protocols of METHOD.md §4: hand-checked morphology, determinism, biased protocols, label recomposition."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nnunet_svl.tools.noise import (PROTOCOLS, all_dilate, all_erode, corrupt_label, dilate, edt_noise, erode, markov_noise,
                              mt_noise)


def _cube(shape: tuple[int, ...], lo: int, hi: int) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[tuple(slice(lo, hi) for _ in shape)] = True
    return m


def _ball(shape=(32, 32, 32), radius=7.0) -> np.ndarray:
    grid = np.indices(shape) - (np.array(shape) // 2)[:, None, None, None]
    return (grid ** 2).sum(0) <= radius ** 2


def test_single_voxel_dilated_by_side_3_is_27_voxels():
    m = np.zeros((9, 9, 9), dtype=bool)
    m[4, 4, 4] = True
    out = dilate(m, 3)
    assert out.sum() == 27  # 3*3*3
    assert out[3:6, 3:6, 3:6].all()


def test_cube_erosion_and_dilation_sizes():
    assert erode(_cube((11, 11, 11), 3, 8), 3).sum() == 27  # 5^3 cube, side 3 removes one layer: 3^3
    assert dilate(_cube((11, 11, 11), 4, 7), 3).sum() == 125  # 3^3 cube grows one layer: 5^3
    assert dilate(_cube((21, 21, 21), 9, 12), 7).sum() == 9 ** 3  # 3 + 2*3
    assert dilate(_cube((9, 9), 3, 6), 3).sum() == 25  # 2-D: 3x3 square -> 5x5


def test_erosion_does_not_eat_from_the_image_border():
    m = np.zeros((10, 10, 10), dtype=bool)
    m[:4] = True  # a slab touching the x=0 face
    out = erode(m, 3)
    assert out[:3].all() and not out[3:].any()  # only the inner face (x=3) is removed: 3 of 4 layers remain


def test_even_side_is_rejected_and_mt_draws_odd_sides():
    with pytest.raises(ValueError, match="odd"):
        dilate(np.zeros((5, 5, 5), bool), 4)
    rng = np.random.default_rng(0)
    sides = {mt_noise(_cube((8, 8, 8), 2, 6), rng)[1]["side"] for _ in range(200)}
    assert sides == {3, 5, 7, 9, 11, 13, 15}
    with pytest.raises(ValueError, match="no odd side"):
        mt_noise(_cube((8, 8, 8), 2, 6), rng, side_range=(4, 4))


def test_mt_noise_picks_both_operations_and_matches_the_record():
    m = _ball()
    ops = set()
    rng = np.random.default_rng(1)
    for _ in range(20):
        out, info = mt_noise(m, rng)
        ops.add(info["operation"])
        ref = dilate(m, info["side"]) if info["operation"] == "dilate" else erode(m, info["side"])
        np.testing.assert_array_equal(out, ref)
    assert ops == {"dilate", "erode"}


def test_edt_dilation_of_single_voxel_by_1_adds_face_neighbours():
    m = np.zeros((7, 7, 7), dtype=bool)
    m[3, 3, 3] = True
    out, info = edt_noise(m, np.random.default_rng(0), d_range=(1.0, 1.0), p_dilate=1.0)
    assert info == {"operation": "dilate", "d": 1.0}
    assert out.sum() == 7  # centre + 6 face neighbours (edge neighbours are at sqrt(2) > 1)
    out, _ = edt_noise(m, np.random.default_rng(0), d_range=(1.5, 1.5), p_dilate=1.0)
    assert out.sum() == 19  # + 12 edge neighbours at sqrt(2); corners at sqrt(3) > 1.5


def test_edt_erosion_by_1_removes_one_face_layer():
    out, info = edt_noise(_cube((9, 9, 9), 2, 7), np.random.default_rng(0), d_range=(1.0, 1.0), p_dilate=0.0)
    assert info["operation"] == "erode"
    assert out.sum() == 27  # 5^3 cube: voxels at distance 1 from background form the outer layer -> 3^3


def test_edt_distance_is_drawn_in_range():
    rng = np.random.default_rng(3)
    ds = [edt_noise(_ball(), rng)[1]["d"] for _ in range(30)]
    assert min(ds) >= 3.0 and max(ds) <= 5.0 and max(ds) - min(ds) > 0.5


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_protocols_are_deterministic_under_a_fixed_seed(name):
    m = _ball()
    a, ia = PROTOCOLS[name](m, np.random.default_rng(42))
    b, ib = PROTOCOLS[name](m, np.random.default_rng(42))
    np.testing.assert_array_equal(a, b)
    assert ia == ib
    json.dumps(ia)


def test_biased_protocols_always_grow_or_shrink():
    m = _ball()
    rng = np.random.default_rng(5)
    for _ in range(5):
        grown, info = all_dilate(m, rng)
        assert info["operation"] == "dilate" and grown.sum() > m.sum() and (grown >= m).all()
        shrunk, info = all_erode(m, rng, side_range=(3, 7))
        assert info["operation"] == "erode" and shrunk.sum() < m.sum() and (shrunk <= m).all()


def test_markov_theta1_one_never_shrinks_the_mask():
    m = _ball()
    for seed in range(5):
        out, info = markov_noise(m, np.random.default_rng(seed), theta1=1.0)
        assert info["dilate_steps"] == 80 and info["erode_steps"] == 0
        assert out.sum() > m.sum()
        raw, _ = markov_noise(m, np.random.default_rng(seed), theta1=1.0, smooth_sigma=0.0)
        assert (raw >= m).all()  # without smoothing every step only adds voxels


def test_markov_theta1_zero_only_removes_and_default_changes_the_boundary():
    m = _ball()
    raw, _ = markov_noise(m, np.random.default_rng(0), theta1=0.0, smooth_sigma=0.0)
    assert (raw <= m).all() and raw.sum() < m.sum()
    out, info = markov_noise(m, np.random.default_rng(0))
    assert info["dilate_steps"] + info["erode_steps"] == 80
    changed = out ^ m
    assert changed.any()
    # changes stay near the boundary: after 80 steps of ~5 % flips, nothing farther than a few voxels moves
    assert not changed[_ball(radius=2.0)].any()


def test_markov_theta2_zero_is_the_identity_up_to_smoothing():
    m = _cube((12, 12, 12), 3, 9)
    out, _ = markov_noise(m, np.random.default_rng(0), theta2=0.0, smooth_sigma=0.0)
    np.testing.assert_array_equal(out, m)


def test_invalid_parameters_raise_value_error():
    m = _ball()
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="theta1"):
        markov_noise(m, rng, theta1=1.5)
    with pytest.raises(ValueError, match="d_range"):
        edt_noise(m, rng, d_range=(5.0, 3.0))
    with pytest.raises(ValueError, match="2-D or 3-D"):
        dilate(np.zeros(5, bool), 3)


def test_unknown_protocol_lists_valid_names():
    with pytest.raises(ValueError, match="unknown noise protocol 'blur'.*mt, edt, markov, dilate, erode"):
        corrupt_label(np.zeros((4, 4, 4), np.uint8), "blur", np.random.default_rng(0))


def test_corrupt_label_dilate_records_counts_and_keeps_dtype():
    label = np.zeros((11, 11, 11), np.int16)
    label[4:7, 4:7, 4:7] = 1
    out, info = corrupt_label(label, "dilate", np.random.default_rng(0), side_range=(3, 3))
    assert out.dtype == np.int16
    assert info["protocol"] == "dilate"
    rec = info["classes"]["1"]
    assert rec == {"operation": "dilate", "side": 3, "voxels_before": 27, "voxels_after": 125, "added": 98,
                   "removed": 0}  # 5^3 - 3^3 = 98
    json.dumps(info)


def test_corrupt_label_higher_labels_win_and_unlisted_classes_are_kept():
    label = np.zeros((12, 12, 12), np.uint8)
    label[2:5, 2:5, 2:5] = 1
    label[5:8, 2:5, 2:5] = 2  # touches class 1 along x
    out, info = corrupt_label(label, "dilate", np.random.default_rng(0), side_range=(3, 3))
    # both dilated by one layer: class 2 (x 4..8) overwrites class 1's original layer x=4 (3*3 = 9 voxels)
    assert (out[4:9, 1:6, 1:6] == 2).all()
    assert info["classes"]["1"]["removed"] == 9
    assert info["classes"]["2"]["removed"] == 0
    out, info = corrupt_label(label, "dilate", np.random.default_rng(0), classes=[1], side_range=(3, 3))
    assert set(info["classes"]) == {"1"}
    np.testing.assert_array_equal(out == 2, label == 2)  # class 2 untouched and still wins its voxels
    # class 1 becomes the 5^3 cube x,y,z in 1..5 minus its overlap with class 2 (x=5, 3*3 voxels): 125 - 9 = 116
    assert info["classes"]["1"]["voxels_after"] == 116


def test_corrupt_label_erosion_leaves_background_and_nested_avoids_gaps():
    label = np.zeros((15, 15, 15), np.uint8)
    label[2:13, 2:13, 2:13] = 1
    label[5:10, 5:10, 5:10] = 2  # core inside the lesion
    plain, _ = corrupt_label(label, "erode", np.random.default_rng(0), classes=[1], side_range=(3, 3))
    inside_lesion = label > 0
    assert (plain[inside_lesion] == 0).sum() > 0  # the shell's inner face next to the core becomes background
    nested, info = corrupt_label(label, "erode", np.random.default_rng(0), classes=[1], nested=True,
                                 side_range=(3, 3))
    assert (nested[3:12, 3:12, 3:12] > 0).all()  # 11^3 region eroded by one layer -> 9^3, no gap
    assert not (nested[2] > 0).any()
    np.testing.assert_array_equal(nested == 2, label == 2)


def test_corrupt_label_ignore_voxels_untouched():
    label = np.zeros((12, 12, 12), np.uint8)
    label[3:9, 3:9, 3:9] = 1
    label[:, :, 0:2] = 3  # ignore label, adjacent to nothing
    label[3:9, 3:9, 9] = 3  # ignore voxels touching the lesion
    for protocol in ("dilate", "erode", "markov", "mt", "edt"):
        out, _ = corrupt_label(label, protocol, np.random.default_rng(0), ignore_label=3)
        np.testing.assert_array_equal(out == 3, label == 3)
    out, info = corrupt_label(label, "dilate", np.random.default_rng(0), ignore_label=3)
    assert set(info["classes"]) == {"1"}
    with pytest.raises(ValueError, match="foreground"):
        corrupt_label(label, "dilate", np.random.default_rng(0), classes=[0])
    with pytest.raises(ValueError, match="foreground"):
        corrupt_label(label, "dilate", np.random.default_rng(0), classes=[3], ignore_label=3)


def test_corrupt_label_absent_class_is_recorded_and_stays_empty_under_erosion():
    label = np.zeros((8, 8), np.uint8)
    label[2:6, 2:6] = 1
    out, info = corrupt_label(label, "erode", np.random.default_rng(0), classes=[1, 2], side_range=(3, 3))
    assert info["classes"]["2"]["voxels_before"] == 0 and info["classes"]["2"]["voxels_after"] == 0
    assert (out == 1).sum() == 4  # 4x4 square -> 2x2


def test_corrupt_label_rejects_float_labels():
    with pytest.raises(ValueError, match="integer"):
        corrupt_label(np.zeros((4, 4, 4), np.float32), "mt", np.random.default_rng(0))
