"""The image-edge fit and repair (nnunet_svl/edge/boundary.py), with numbers checked by hand."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from nnunet_svl.edge.boundary import fit_edge, repair_label, signed_distance


def _cube():
    m = np.zeros((11, 11, 11), dtype=bool)
    m[3:8, 3:8, 3:8] = True
    return m


def test_signed_distance_by_hand():
    sd = signed_distance(_cube())
    # centre: 3 voxels to the nearest background voxel -> -(3 - 1/2); a face voxel of the cube: -(1 - 1/2)
    assert sd[5, 5, 5] == -2.5 and sd[3, 5, 5] == -0.5 and sd[5, 5, 7] == -0.5
    # outside: 1 and 3 voxels from the nearest foreground voxel -> +0.5, +2.5
    assert sd[2, 5, 5] == 0.5 and sd[0, 5, 5] == 2.5
    # spacing (1, 1, 2): a step along the last axis is 2 voxels of the finest spacing
    sda = signed_distance(_cube(), spacing=(1.0, 1.0, 2.0))
    assert sda[5, 5, 2] == 1.5 and sda[5, 5, 7] == -1.5 and sda[5, 5, 5] == -2.5   # z face: 2 - 1/2 inside
    assert np.isposinf(signed_distance(np.zeros((3, 3), bool))).all()


def _sphere_case(noise: float = 0.0, seed: int = 0, radius: float = 10.0, inside: float = 120.0,
                 outside: float = 100.0):
    g = np.indices((48, 48, 48)).astype(float) + 0.5
    r = np.sqrt(((g - 24.0) ** 2).sum(0))
    true = r < radius
    image = outside + (inside - outside) * ndimage.gaussian_filter(true.astype(float), 1.2)
    image += noise * np.random.default_rng(seed).standard_normal(true.shape)
    return image[None], r, true


def _dice(a, b):
    return 2.0 * (a & b).sum() / (a.sum() + b.sum())


@pytest.mark.parametrize("grow,noise", [(3.0, 0.0), (3.0, 10.0), (6.0, 10.0)])
def test_an_over_drawn_label_is_found_and_moved_to_the_edge(grow, noise):
    image, r, true = _sphere_case(noise)
    label = (r < 10.0 + grow).astype(np.int16)
    fit = fit_edge(image, label > 0)
    assert fit.reliable and fit.channel == 0 and fit.contrast > 0
    assert abs(fit.offset - grow) <= 0.5                     # the label's boundary lies `grow` voxels outside
    repaired = repair_label(label, fit, tolerance=0.5)
    assert _dice(repaired > 0, true) > 0.93 > _dice(label > 0, true) + 0.1
    assert label.max() == 1 and (label[r < 10.0 + grow] == 1).all()     # the input is not modified


def test_a_label_on_its_edge_is_left_alone():
    image, r, true = _sphere_case(10.0)
    label = true.astype(np.int16)
    fit = fit_edge(image, true)
    assert fit.offset <= 0.5                                 # the step sits at (or outside) the boundary
    assert repair_label(label, fit, tolerance=0.5) is label  # same object: nothing moved


def test_an_under_drawn_label_is_not_grown_or_trusted():
    image, r, _ = _sphere_case(10.0)
    label = (r < 8.0).astype(np.int16)                       # 2 voxels inside the edge: a flat inside, no step
    fit = fit_edge(image, label > 0)
    assert not fit.reliable
    assert repair_label(label, fit, tolerance=0.5) is label


def test_a_step_against_the_labels_contrast_is_not_trusted():
    # surroundings 130, the label's rim 80, its core 120: the inside step (core brighter than the rim, b > 0) has
    # the opposite sign of the label's contrast with its surroundings (core 120 < 130): not an over-drawn rim
    g = np.indices((48, 48, 48)).astype(float) + 0.5
    r = np.sqrt(((g - 24.0) ** 2).sum(0))
    image = np.where(r < 10.0, 120.0, np.where(r < 13.0, 80.0, 130.0))
    image = ndimage.gaussian_filter(image, 1.2)[None]
    fit = fit_edge(image, r < 13.0)
    assert fit.contrast > 0 and not fit.reliable and "opposite sign" in fit.reason


def test_the_channel_with_the_edge_is_used():
    image, r, _ = _sphere_case(0.0)
    flat = 50.0 + np.random.default_rng(1).standard_normal(image.shape[1:])
    fit = fit_edge(np.stack([flat, image[0]]), r < 13.0)
    assert fit.channel == 1 and abs(fit.offset - 3.0) <= 0.5


def test_ignored_voxels_are_neither_foreground_nor_fitted():
    image, r, true = _sphere_case(0.0)
    label = (r < 13.0).astype(np.int16)
    valid = np.ones(label.shape, dtype=bool)
    valid[:, :, :4] = False
    fit = fit_edge(image, label > 0, valid=valid)
    repaired = repair_label(label, fit, tolerance=0.5, valid=valid)
    assert abs(fit.offset - 3.0) <= 0.5 and _dice(repaired > 0, true) > 0.95


def test_too_small_a_label_is_not_fitted():
    image, r, _ = _sphere_case(0.0)
    fit = fit_edge(image, r < 2.0)                           # 33 voxels
    assert not fit.reliable and np.isnan(fit.offset) and "fewer than 100" in fit.reason
