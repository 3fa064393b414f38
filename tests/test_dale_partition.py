import numpy as np
import pytest

from nnunet_svl.dale.partition import boundary_proximity, fuzzy_membership, label_boundary, normalised_entropy


def test_entropy_hand_checked():
    uniform = np.full((4, 2, 3), 0.25)
    np.testing.assert_allclose(normalised_entropy(uniform), 1.0, rtol=1e-6)
    onehot = np.zeros((3, 5)); onehot[1] = 1.0
    np.testing.assert_array_equal(normalised_entropy(onehot), 0.0)
    # p = [1/4, 3/4]: H = -(1/4 ln 1/4 + 3/4 ln 3/4) = 0.562335; / ln 2 = 0.811278
    p = np.array([0.25, 0.75]).reshape(2, 1, 1, 1)
    out = normalised_entropy(p)
    assert out.shape == (1, 1, 1) and out.dtype == np.float32
    assert out.item() == pytest.approx(0.811278, abs=1e-6)
    with pytest.raises(ValueError, match="at least 2 classes"):
        normalised_entropy(np.ones((1, 3)))


def _step_2d():
    lab = np.zeros((3, 9), dtype=np.int16)
    lab[:, 4:] = 1  # interface between columns 3 and 4
    return lab


def test_boundary_is_both_sides_of_each_interface():
    b = label_boundary(_step_2d())
    np.testing.assert_array_equal(np.flatnonzero(b[1]), [3, 4])
    assert b[:, 3].all() and b[:, 4].all() and b.sum() == 6
    # a 3-D single voxel of class 2 inside class 1: itself plus its 6 face neighbours are boundary voxels
    lab = np.ones((5, 5, 5), dtype=np.int16); lab[2, 2, 2] = 2
    assert label_boundary(lab).sum() == 7


def test_proximity_hand_checked_2d():
    prox = boundary_proximity(_step_2d(), sigma=2.0)
    # distance to the nearest boundary voxel along a row: columns 0..8 → [3, 2, 1, 0, 0, 1, 2, 3, 4]
    d = np.array([3, 2, 1, 0, 0, 1, 2, 3, 4], dtype=np.float64)
    np.testing.assert_allclose(prox[1], np.exp(-d ** 2 / 8), rtol=1e-6)
    assert prox[1, 1] == pytest.approx(np.exp(-0.5), rel=1e-6)  # distance 2, σ = 2
    assert prox[1, 3] == 1.0 and prox[1, 4] == 1.0
    assert prox.dtype == np.float32


def test_proximity_spacing_aware():
    # column spacing 2 (axis 1): column 1 lies 2 voxels = 4 units from the boundary → exp(-16/8) = exp(-2)
    prox = boundary_proximity(_step_2d(), sigma=2.0, spacing=(1.0, 2.0))
    assert prox[1, 1] == pytest.approx(np.exp(-2.0), rel=1e-6)
    with pytest.raises(ValueError, match="one value per axis"):
        boundary_proximity(_step_2d(), spacing=(1.0, 1.0, 1.0))


def test_proximity_3d_far_from_boundary_is_small():
    lab = np.zeros((21, 21, 21), dtype=np.uint8)
    lab[4:17, 4:17, 4:17] = 1  # cube 4..16; its boundary voxels include the layer at index 4
    prox = boundary_proximity(lab, sigma=2.0)
    # centre (10,10,10): nearest boundary voxel at index 4 or 16 (cube side) → d = 6 → exp(-36/8) = 0.0111
    assert prox[10, 10, 10] == pytest.approx(np.exp(-4.5), rel=1e-6)
    assert prox[4, 10, 10] == 1.0 and prox[3, 10, 10] == 1.0
    assert prox[10, 10, 10] < 0.02 and 0.0 <= prox.min() and prox.max() <= 1.0


def test_no_boundary_gives_zero_and_negative_labels_count_as_background():
    np.testing.assert_array_equal(boundary_proximity(np.full((4, 4), 3)), 0.0)
    lab = np.zeros((6, 6), dtype=np.int16); lab[:, :2] = -1  # nnU-Net's "outside the mask" next to background
    np.testing.assert_array_equal(boundary_proximity(lab), 0.0)
    with pytest.raises(ValueError, match="sigma"):
        boundary_proximity(lab, sigma=0.0)


def test_membership_hand_checked():
    # entropy at the threshold → a = 1/2; b = 0 → m = 1/2; b = 1/2 → m = 1 - (1/2)(1/2) = 3/4
    m = fuzzy_membership(np.array([0.5, 0.5]), np.array([0.0, 0.5]))
    np.testing.assert_allclose(m, [0.5, 0.75], rtol=1e-6)
    # entropy 0, threshold 0.5, T 0.1 → a = sigmoid(-5) = 0.0066929; proximity 1 → m = 1
    m = fuzzy_membership(np.array([0.0, 0.0]), np.array([0.0, 1.0]))
    np.testing.assert_allclose(m, [0.0066929, 1.0], rtol=1e-5)
    # proximity_weight 0.5 halves b: entropy 0 with proximity 1 → 1 - (1 - 0.0066929)(1 - 0.5) = 0.5033464
    assert fuzzy_membership(np.array([0.0]), np.array([1.0]), proximity_weight=0.5)[0] == pytest.approx(0.5033464)


def test_membership_bounds_and_monotonicity():
    e, p = np.meshgrid(np.linspace(0, 1, 11), np.linspace(0, 1, 11), indexing="ij")
    m = fuzzy_membership(e, p)
    assert m.dtype == np.float32 and m.min() >= 0.0 and m.max() <= 1.0
    assert np.all(np.diff(m, axis=0) >= 0) and np.all(np.diff(m, axis=1) >= 0)
    assert np.all(np.diff(m[:, 0]) > 0) and np.all(np.diff(m[0, :]) > 0)  # strictly, where the other term is 0


def test_membership_bad_arguments():
    with pytest.raises(ValueError, match="temperature"):
        fuzzy_membership(np.zeros(2), np.zeros(2), temperature=0.0)
    with pytest.raises(ValueError, match="proximity_weight"):
        fuzzy_membership(np.zeros(2), np.zeros(2), proximity_weight=1.5)
    with pytest.raises(ValueError, match="same shape"):
        fuzzy_membership(np.zeros(2), np.zeros(3))
