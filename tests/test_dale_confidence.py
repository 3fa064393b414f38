import numpy as np
import pytest
from scipy.optimize import minimize

from nnunet_svl.dale.confidence import label_confidence, regularised_objective


def test_hand_checked_three_voxels():
    # z = [0, ln 2, ln 4], η = 1: exp(-z) = [1, 1/2, 1/4], sum 7/4 → softmax = [4/7, 2/7, 1/7]; ω = 3·softmax
    z = np.log([1.0, 2.0, 4.0])
    omega = label_confidence(z, np.zeros(3), eta=1.0)
    np.testing.assert_allclose(omega, [12 / 7, 6 / 7, 3 / 7], rtol=1e-6)
    assert omega.dtype == np.float32


def test_std_enters_with_kappa():
    # mean 0 everywhere, std [0, ln 2, ln 4], κ = 2 → z = [0, 2 ln 2, 2 ln 4] = ln [1, 4, 16];
    # softmax ∝ [1, 1/4, 1/16] = [16, 4, 1]/21 → ω = 3·[16, 4, 1]/21
    omega = label_confidence(np.zeros(3), np.log([1.0, 2.0, 4.0]), eta=1.0, kappa=2.0)
    np.testing.assert_allclose(omega, 3 * np.array([16, 4, 1]) / 21, rtol=1e-6)


def test_mean_one_over_valid_voxels_and_invalid_get_one():
    rng = np.random.default_rng(1)
    mean, spread = rng.uniform(0, 3, (4, 5, 6)), rng.uniform(0, 1, (4, 5, 6))
    valid = rng.uniform(size=(4, 5, 6)) > 0.3
    omega = label_confidence(mean, spread, eta=2.0, valid_mask=valid)
    assert omega[valid].mean() == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_array_equal(omega[~valid], 1.0)
    assert omega.shape == (4, 5, 6)
    # no valid voxel at all: all ones
    np.testing.assert_array_equal(label_confidence(mean, spread, 2.0, valid_mask=np.zeros_like(valid)), 1.0)


def test_monotone_in_loss_level_and_inconsistency():
    mean = np.array([0.1, 0.5, 1.0, 2.0, 5.0])
    omega = label_confidence(mean, np.zeros(5), eta=1.0)
    assert np.all(np.diff(omega) < 0)
    omega_std = label_confidence(np.zeros(5), mean, eta=1.0)
    assert np.all(np.diff(omega_std) < 0)


def test_eta_to_zero_gives_ones():
    mean = np.array([0.0, 3.0, 10.0])
    np.testing.assert_array_equal(label_confidence(mean, np.zeros(3), eta=0.0), 1.0)
    np.testing.assert_allclose(label_confidence(mean, np.zeros(3), eta=1e-9), 1.0, atol=1e-7)


def test_numerically_stable_for_huge_losses():
    # without subtracting the max, exp(-1000) underflows to 0 everywhere and the ratio is 0/0
    omega = label_confidence(np.array([1000.0, 1000.0 + np.log(2)]), np.zeros(2), eta=1.0)
    np.testing.assert_allclose(omega, [4 / 3, 2 / 3], rtol=1e-6)


def test_clip_bounds():
    z = np.log([1.0, 2.0, 4.0])
    omega = label_confidence(z, np.zeros(3), eta=1.0, clip=(0.5, 1.5))
    np.testing.assert_allclose(omega, [1.5, 6 / 7, 0.5], rtol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="eta"):
        label_confidence(np.zeros(3), np.zeros(3), eta=-1.0)
    with pytest.raises(ValueError, match="same shape"):
        label_confidence(np.zeros(3), np.zeros(4), eta=1.0)
    with pytest.raises(ValueError, match="valid_mask"):
        label_confidence(np.zeros(3), np.zeros(3), eta=1.0, valid_mask=np.ones(4, bool))


def test_regularised_objective_hand_checked():
    # w = [1/2, 1/2, 0], z = [1, 3, 5], η = 2: Σ w z = 2; Σ w log w = 2·(1/2)·ln(1/2) = -ln 2 (0 log 0 = 0)
    assert regularised_objective([0.5, 0.5, 0.0], [1.0, 3.0, 5.0], 2.0) == pytest.approx(2 - np.log(2) / 2)


def test_closed_form_minimises_the_regularised_objective_over_the_simplex():
    rng = np.random.default_rng(7)
    n, eta = 6, 1.5
    mean, spread = rng.uniform(0, 2, n), rng.uniform(0, 0.5, n)
    kappa = 0.7
    z = mean + kappa * spread
    w_closed = label_confidence(mean, spread, eta=eta, kappa=kappa).astype(np.float64) / n
    result = minimize(lambda w: regularised_objective(w, z, eta), x0=np.full(n, 1.0 / n), method="SLSQP",
                      bounds=[(0.0, 1.0)] * n, constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
                      options={"ftol": 1e-14, "maxiter": 500})
    assert result.success
    f_closed = regularised_objective(w_closed, z, eta)
    # the closed form is at least as good as the numerical optimum (slack: ω is returned in float32)
    assert f_closed <= result.fun + 1e-7
    assert abs(f_closed - result.fun) < 1e-6
    np.testing.assert_allclose(w_closed, result.x, atol=1e-3)
