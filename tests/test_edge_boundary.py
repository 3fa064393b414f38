"""The image-edge fit and repair (nnunet_svl/edge/boundary.py), with numbers checked by hand."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from nnunet_svl.edge.boundary import (EdgeFit, fit_edge, foreground_box, on_edge_step_reference, reached_edge,
                                     repair_label, repair_to_edge, replay_repair, signed_distance)


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


def test_foreground_box_by_hand():
    cube = _cube()                                             # voxels 3..7 on every axis of 11
    assert foreground_box(cube, 1) == (slice(2, 9),) * 3
    assert foreground_box(cube, 4) == (slice(0, 11),) * 3      # clipped to the array
    corner = np.zeros((6, 7), dtype=bool)
    corner[0, 5] = True
    assert foreground_box(corner, 2) == (slice(0, 3), slice(3, 7))
    assert foreground_box(np.zeros((4, 5), dtype=bool), 3) == (slice(0, 4), slice(0, 5))


@pytest.mark.parametrize("spacing", [None, (1.0, 1.0, 2.5), (3.0, 0.8, 0.8)])
def test_the_box_holds_every_distance_the_fit_and_the_repair_read(spacing):
    """The fit reads the signed distance of every foreground voxel and of the background within 2 voxels of the
    finest spacing (its polarity shell); the repair only the foreground's. In the box (margin 3 for the fit, 1 for
    the repair) they equal the whole volume's: blobs that touch the array's border included."""
    rng = np.random.default_rng(0)
    for trial in range(6):
        mask = ndimage.gaussian_filter(rng.random((20, 22, 18)), 1.5 + 0.5 * (trial % 3)) > 0.51
        if trial >= 3:                                          # blobs clear of the array's border
            mask[:4], mask[-3:], mask[:, :2], mask[:, -5:], mask[..., :3], mask[..., -2:] = (False,) * 6
        full = signed_distance(mask, spacing)
        for margin, outside_read in ((3, 2.0), (1, -np.inf)):
            box = foreground_box(mask, margin)
            cropped = signed_distance(mask[box], spacing)
            read = mask | (full <= outside_read)
            assert mask.sum() > 50
            assert read[box].sum() == read.sum()                # every voxel read lies in the box
            assert np.array_equal(cropped[read[box]], full[box][read[box]])


def test_the_fit_equals_the_least_squares_over_the_voxels():
    """fit_edge sums over the distinct distances; the same step fitted voxel by voxel (the formula of the module
    docstring, written out here) gives the same edge, contrast and t, on anisotropic spacing too."""
    from scipy.special import ndtr

    image, r, true = _sphere_case(10.0)
    for spacing in (None, (1.0, 1.0, 1.7)):
        fg = r < 13.0
        fit = fit_edge(image, fg, spacing=spacing)
        sd = signed_distance(fg, spacing)
        inside = fg & (sd >= -8.0)
        d, y = sd[inside], image[0][inside]
        best = None
        for e in np.arange(-7.0, 1.0 + 1e-9, 0.05):
            x = np.stack([np.ones_like(d), ndtr((e - d) / 1.5)], 1)
            coef, res, *_ = np.linalg.lstsq(x, y, rcond=None)
            sse = float(((y - x @ coef) ** 2).sum())
            if best is None or sse < best[2]:
                xc = x[:, 1] - x[:, 1].mean()
                se = np.sqrt(sse / (d.size - 2) / float(xc @ xc))
                best = (e, coef[1], sse, abs(coef[1]) / se)
        assert fit.offset == pytest.approx(-best[0], abs=1e-9)
        assert fit.contrast == pytest.approx(best[1], rel=1e-7) and fit.t_value == pytest.approx(best[3], rel=1e-6)


def test_the_repair_in_the_box_equals_the_repair_over_the_volume():
    image, r, true = _sphere_case(10.0)
    label = (r < 14.0).astype(np.int16)
    label[20:28, 20:28, 43:] = 1                               # a lobe that runs into the array's border
    fit = fit_edge(image, label > 0)
    sd = signed_distance(label > 0)
    expected = np.where((label > 0) & (sd >= -fit.offset), 0, label)
    assert fit.moves(0.5) and np.array_equal(repair_label(label, fit, 0.5), expected)


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


def test_a_far_over_drawn_phantom_label_needs_more_than_one_step():
    # a phantom lesion (the benchmark's generator, seed 0) over-drawn by a 9-voxel cube (4 voxels along the axes,
    # up to ~7 along the diagonals, concavities filled): one fit stands for an uneven rim and falls short (offset
    # 2.4); fitted again after the move the rest of the rim is found (1.9), and the third fit is within the
    # tolerance (0.0), so the steps stop there
    from nnunet_svl.tools.demo_data import make_phantom
    from nnunet_svl.tools.noise import dilate

    image, label = make_phantom(np.random.default_rng(0), (40, 40, 40))
    true = label == 1
    given = dilate(true, 9).astype(np.int16)
    once, fits1 = repair_to_edge(image[None], given, tolerance=1.0, steps=1)
    out, fits = repair_to_edge(image[None], given, tolerance=1.0, steps=3)
    assert len(fits1) == 1 and fits1[0] == fits[0] and np.array_equal(once, repair_label(given, fits[0], 1.0))
    assert [round(f.offset, 2) for f in fits] == [2.4, 1.9, 0.0] and all(f.reliable for f in fits)
    assert _dice(given > 0, true) < 0.40 and 0.55 < _dice(once > 0, true) < 0.65 and _dice(out > 0, true) > 0.85
    removed = (given > 0) & ~(out > 0)
    assert (removed & ~true).sum() >= 0.98 * removed.sum()          # the moved voxels are background in the clean label
    assert np.array_equal(replay_repair(given, fits, tolerance=1.0), out)   # the fits alone give the same label
    # a clean label: one fit, not moved, the same array back (from the fit and from its replay)
    same, fits0 = repair_to_edge(image[None], label.astype(np.int16), tolerance=1.0, steps=3)
    assert len(fits0) == 1 and not fits0[0].moves(1.0)
    assert replay_repair(same, fits0, tolerance=1.0) is same
    with pytest.raises(ValueError, match="positive integer"):
        repair_to_edge(image[None], given, tolerance=1.0, steps=0)


def test_reached_edge_needs_a_move_and_a_trusted_fit_within_the_tolerance_after_it():
    def fit(offset, reliable=True):
        return EdgeFit(offset=offset, contrast=1.0, t_value=20.0, core_voxels=500, channel=0, reliable=reliable,
                       reason="" if reliable else "not trusted")

    tol = 1.0
    assert not reached_edge([], tol)
    assert not reached_edge([fit(0.5)], tol)                         # not moved
    assert not reached_edge([fit(2.0)], tol)                         # moved, nothing checked the result (one step)
    assert reached_edge([fit(2.0), fit(-0.4)], tol)                  # moved, the next fit on the edge
    assert reached_edge([fit(2.0), fit(1.3), fit(1.0)], tol)         # the bound is inclusive, as moves() is strict
    assert not reached_edge([fit(3.6), fit(3.3), fit(2.3)], tol)     # steps ran out beyond the edge
    assert not reached_edge([fit(2.0), fit(0.2, reliable=False)], tol)
    assert not reached_edge([fit(2.0), fit(float("nan"))], tol)
    assert not reached_edge([fit(2.0, reliable=False), fit(0.0)], tol)   # an untrusted first fit moves nothing


def test_moves_with_z_needs_the_offset_beyond_the_tolerance_by_z_standard_errors():
    def fit(offset, se, reliable=True):
        return EdgeFit(offset=offset, contrast=1.0, t_value=20.0, core_voxels=500, channel=0, reliable=reliable,
                       reason="" if reliable else "not trusted", offset_se=se)

    assert fit(2.0, 0.5).moves(1.0) and fit(2.0, 0.5).moves(1.0, 1.0)       # 2.0 − 1·0.5 = 1.5 > 1
    assert not fit(2.0, 0.5).moves(1.0, 2.5)                                 # 2.0 − 2.5·0.5 = 0.75
    assert not fit(2.0, 1.0).moves(1.0, 1.0)                                 # 1.0 is not beyond the tolerance
    assert fit(2.0, float("nan")).moves(1.0) and not fit(2.0, float("nan")).moves(1.0, 1.0)
    assert not fit(2.0, 0.1, reliable=False).moves(1.0, 1.0)
    # a fit saved before offset_se existed loads with NaN: it moves only with z = 0
    old = {"offset": 2.0, "contrast": 1.0, "t_value": 20.0, "core_voxels": 500, "channel": 0, "reliable": True,
           "reason": ""}
    assert np.isnan(EdgeFit(**old).offset_se) and EdgeFit(**old).moves(1.0)
    # a judge rejects the first fit: nothing moves (replay and repair alike); the refits follow once it accepts
    label = np.zeros((30, 30, 30), dtype=np.int16)
    label[5:25, 5:25, 5:25] = 1
    first, refit = fit(2.0, 0.5), fit(1.5, 5.0)
    once = repair_label(label, first, 1.0)
    twice = repair_label(once, refit, 1.0)
    assert (once > 0).sum() < (label > 0).sum() and (twice > 0).sum() < (once > 0).sum()
    assert np.array_equal(replay_repair(label, [first, refit], 1.0, judge=lambda f: f.moves(1.0, 1.0)), twice)
    assert replay_repair(label, [fit(2.0, 1.5), refit], 1.0, judge=lambda f: f.moves(1.0, 1.0)) is label


def test_offset_standard_error_is_the_octant_jackknife_by_hand(monkeypatch):
    """Four octants of 100 voxels each, the voxels of octant k at distance k, and a stand-in step fit that returns
    the mean distance of the voxels it is given: leaving out octant k gives e = (0+1+2+3 − k)/3 = 2, 5/3, 4/3, 1;
    ē = 1.5; SE² = (4 − 1)/4 · (0.5² + (1/6)² + (1/6)² + 0.5²) = 0.41667, SE = 0.6455."""
    import nnunet_svl.edge.boundary as boundary

    monkeypatch.setattr(boundary, "_fit_channel", lambda d, y, window, sigma, step: (float(d.mean()), 1.0, 9.0, 0.0))
    corners = [(-1, -1, -1), (-1, -1, 1), (-1, 1, -1), (-1, 1, 1)]     # octant codes 0, 1, 2, 3 about their mean
    positions = np.repeat(np.array(corners, dtype=float), 100, axis=0)
    d = np.repeat(np.arange(4, dtype=float), 100)
    se = boundary.offset_standard_error(d, np.zeros_like(d), positions, 8.0, 1.5, 0.05)
    assert se == pytest.approx(np.sqrt(0.75 * (0.25 + 1 / 36 + 1 / 36 + 0.25)), rel=1e-12)
    assert se == pytest.approx(0.6455, abs=1e-4)
    # an octant under MIN_OCTANT_VOXELS is no group; fewer than two groups: NaN
    few = np.r_[np.zeros(100), np.ones(boundary.MIN_OCTANT_VOXELS - 1)]
    pos = np.r_[np.tile([[-1.0, -1.0, -1.0]], (100, 1)), np.tile([[1.0, 1.0, 1.0]], (boundary.MIN_OCTANT_VOXELS - 1, 1))]
    assert np.isnan(boundary.offset_standard_error(few, few, pos, 8.0, 1.5, 0.05))


def test_the_offset_standard_error_grows_as_the_edge_fades():
    """A label 2 voxels outside a sphere's edge: a strong step pins its offset in every octant, a faint one lets the
    octants disagree, and the jackknife's standard error follows (noise sd 10; steps of 40 and 6)."""
    for seed in (0, 1):
        strong, r, _ = _sphere_case(10.0, seed=seed, inside=140.0)
        faint, _, _ = _sphere_case(10.0, seed=seed, inside=106.0)
        se_strong = fit_edge(strong, r < 12.0).offset_se
        se_faint = fit_edge(faint, r < 12.0).offset_se
        assert 0.0 < se_strong < 0.1 and se_faint > 2.5 * se_strong


def test_on_edge_step_reference_by_hand():
    """The median t of the trusted fits within the tolerance, when at least 4 of them and half of the trusted fits
    lie on the edge; NaN otherwise."""
    on = {f"on{i}": (o, t, True) for i, (o, t) in enumerate([(0.2, 10.0), (-0.8, 12.0), (1.0, 8.0), (-1.0, 30.0)])}
    past = {"past0": (2.5, 40.0, True), "past1": (1.5, 25.0, True)}
    untrusted = {"u0": (0.0, 3.0, False), "u1": (float("nan"), 0.0, False)}
    assert on_edge_step_reference({**on, **past, **untrusted}, 1.0) == 11.0        # median of 8, 10, 12, 30
    assert np.isnan(on_edge_step_reference({**on, **past, "past2": (3.0, 50.0, True), "past3": (1.2, 20.0, True),
                                            "past4": (4.0, 60.0, True)}, 1.0))  # 4 on the edge of 9 trusted
    assert on_edge_step_reference({**on, **past, "past2": (3.0, 50.0, True), "past3": (1.2, 20.0, True),
                                   "past4": (4.0, 60.0, True)}, 1.0, min_share=0.4) == 11.0
    assert np.isnan(on_edge_step_reference({k: on[k] for k in list(on)[:3]}, 1.0))  # 3 on the edge: too few


def test_a_judge_keeps_a_label_the_first_fit_would_move():
    """repair_to_edge with a judge that rejects the first fit: the label comes back as the same object, with the one
    fit that was rejected; accepted, it moves as without a judge."""
    image, r, true = _sphere_case(10.0)
    label = (r < 13.0).astype(np.int16)
    free, free_fits = repair_to_edge(image, label, 1.0, 3)
    kept, kept_fits = repair_to_edge(image, label, 1.0, 3, judge=lambda f: False)
    assert free is not label and kept is label and len(kept_fits) == 1 and kept_fits[0] == free_fits[0]
    same, same_fits = repair_to_edge(image, label, 1.0, 3, judge=lambda f: True)
    assert np.array_equal(same, free) and same_fits == free_fits
