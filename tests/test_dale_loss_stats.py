import numpy as np
import pytest

from nnunet_svl.runtime.atomic_io import atomic_savez
from nnunet_svl.dale.loss_stats import MAX_COUNT, LossStats, reset_voxels, std, update_loss_stats
from nnunet_svl.runtime.errors import SVLInputError


def _run(sequence, shape=(2, 3)):
    stats = None
    for value in sequence:
        stats = update_loss_stats(stats, np.full(shape, value, dtype=np.float32))
    return stats


def test_first_call_starts_history():
    loss = np.array([[0.5, 2.0], [0.0, 7.25]], dtype=np.float32)
    s = update_loss_stats(None, loss)
    np.testing.assert_array_equal(s.mean, loss)
    np.testing.assert_array_equal(s.var, 0)
    np.testing.assert_array_equal(s.count, 1)


def test_running_mean_and_population_variance_of_1_2_4():
    # mean = (1 + 2 + 4)/3 = 7/3; population var = ((1-7/3)² + (2-7/3)² + (4-7/3)²)/3 = (16/9 + 1/9 + 25/9)/3 = 14/9
    s = _run([1.0, 2.0, 4.0])
    np.testing.assert_allclose(s.mean.astype(np.float64), 7 / 3, rtol=1e-3)
    np.testing.assert_allclose(s.var.astype(np.float64), 14 / 9, rtol=1e-3)
    np.testing.assert_allclose(std(s), np.sqrt(14 / 9), rtol=1e-3)
    np.testing.assert_array_equal(s.count, 3)
    assert std(s).dtype == np.float32


def test_matches_numpy_on_a_random_history():
    rng = np.random.default_rng(0)
    history = rng.uniform(0, 5, size=(6, 4, 3, 2)).astype(np.float32)
    stats = None
    for loss in history:
        stats = update_loss_stats(stats, loss)
    # float16 storage at every round: errors stay at the 1e-3 relative level (documented precision)
    np.testing.assert_allclose(stats.mean, history.mean(0), rtol=3e-3, atol=3e-3)
    np.testing.assert_allclose(stats.var, history.var(0), rtol=1e-2, atol=1e-2)


def test_storage_dtypes_are_float16_and_uint16():
    s = _run([1.0, 3.0])
    assert s.mean.dtype == np.float16 and s.var.dtype == np.float16 and s.count.dtype == np.uint16
    assert s.mean.shape == s.var.shape == s.count.shape == (2, 3)


def test_count_saturates_at_uint16_max():
    s = LossStats(mean=np.zeros(2, np.float16), var=np.zeros(2, np.float16), count=np.full(2, MAX_COUNT, np.uint16))
    s2 = update_loss_stats(s, np.full(2, 655.35, np.float32))
    np.testing.assert_array_equal(s2.count, MAX_COUNT)
    # the newest loss weighs 1/65535: mean = 0 + 655.35/65535 = 0.01;
    # var = (65534·0 + 655.35·(655.35 − 0.01))/65535 = 0.01·655.34 = 6.5534
    np.testing.assert_allclose(s2.mean.astype(np.float32), 0.01, rtol=1e-3)
    np.testing.assert_allclose(s2.var.astype(np.float32), 6.5534, rtol=1e-3)


def test_outlier_loss_is_stored_finite():
    s = update_loss_stats(update_loss_stats(None, np.zeros(2, np.float32)), np.full(2, 1e6, np.float32))
    # mean 5e5 and var 2.5e11 exceed float16's range: clipped to 65504, not inf
    assert np.isfinite(s.mean).all() and np.isfinite(s.var).all()
    np.testing.assert_array_equal(s.mean, np.float16(65504))


def test_reset_restarts_only_masked_voxels():
    s = _run([1.0, 2.0, 4.0], shape=(3,))
    mask = np.array([True, False, True])
    new_loss = np.array([0.25, 9.0, 3.0], dtype=np.float32)
    r = reset_voxels(s, mask, new_loss)
    np.testing.assert_allclose(r.mean.astype(np.float64), [0.25, 7 / 3, 3.0], rtol=1e-3)
    np.testing.assert_allclose(r.var.astype(np.float64), [0.0, 14 / 9, 0.0], rtol=1e-3)
    np.testing.assert_array_equal(r.count, [1, 3, 1])
    assert r.mean.dtype == np.float16 and r.count.dtype == np.uint16
    np.testing.assert_array_equal(s.count, 3)  # the input is not modified
    # a following round continues the restarted history: mean of [0.25, 1.25] = 0.75, var = 0.25
    nxt = update_loss_stats(r, np.array([1.25, 7 / 3, 3.0], dtype=np.float32))
    assert nxt.mean[0] == pytest.approx(0.75, rel=1e-3) and nxt.var[0] == pytest.approx(0.25, rel=1e-3)


def test_shape_mismatch_is_refused():
    s = _run([1.0], shape=(2, 2))
    with pytest.raises(ValueError, match="does not match"):
        update_loss_stats(s, np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="must match"):
        reset_voxels(s, np.zeros((2, 3), bool), np.zeros((2, 3), np.float32))


def test_npz_round_trip(tmp_path):
    s = _run([1.0, 2.0, 4.0], shape=(2, 2, 2))
    path = tmp_path / "case_stats.npz"
    atomic_savez(path, **s.to_arrays())
    with np.load(path) as z:
        back = LossStats.from_arrays({k: z[k] for k in z.files}, source=path)
    for key in ("mean", "var", "count"):
        np.testing.assert_array_equal(getattr(back, key), getattr(s, key))
        assert getattr(back, key).dtype == getattr(s, key).dtype


def test_from_arrays_names_the_file_on_bad_input(tmp_path):
    with pytest.raises(SVLInputError, match=r"case_stats\.npz: .*lack.*'var'.*Fix: delete"):
        LossStats.from_arrays({"mean": np.zeros(2), "count": np.ones(2)}, source=tmp_path / "case_stats.npz")
    with pytest.raises(SVLInputError, match="mismatched shapes"):
        LossStats.from_arrays({"mean": np.zeros(2), "var": np.zeros(3), "count": np.ones(2)})
