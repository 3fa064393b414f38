import pytest
import torch

from nnunet_svl.dale.alignment import class_conditional_alignment_loss, diag_gaussian_w2_squared

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _paired(spatial, n_features=3, shift=0.0, seed=0, device="cpu"):
    """Features (1, F, 2, *spatial): slot 0 along axis 2 is stable (m = 0), slot 1 is fuzzy (m = 1) and holds the
    same feature values as slot 0 plus ``shift``; labels alternate 0/1 along the last axis, identical in both slots."""
    g = torch.Generator().manual_seed(seed)
    stable = torch.randn((1, n_features, 1, *spatial), generator=g)
    feats = torch.cat([stable, stable + shift], dim=2).to(device)
    lab = (torch.arange(spatial[-1]) % 2).expand(1, 2, *spatial).clone().long().to(device)
    fuzzy = torch.zeros((1, 2, *spatial), device=device)
    fuzzy[:, 1] = 1.0
    return feats, lab, fuzzy


def test_w2_closed_form_hand_checked():
    # ||μ1-μ2||² = 1 + 4 = 5; σ1 = [1, 2], σ2 = [2, 1] → ||σ1-σ2||² = 2; total 7
    w2 = diag_gaussian_w2_squared(torch.tensor([0.0, 0.0]), torch.tensor([1.0, 4.0]),
                                  torch.tensor([1.0, 2.0]), torch.tensor([4.0, 1.0]))
    assert w2.item() == pytest.approx(7.0)
    batched = diag_gaussian_w2_squared(torch.zeros(3, 2), torch.ones(3, 2), torch.ones(3, 2), torch.ones(3, 2))
    assert batched.shape == (3,) and torch.allclose(batched, torch.full((3,), 2.0))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("spatial", [(8, 6), (4, 4, 6)])
def test_zero_when_both_sides_have_the_same_distribution(device, spatial):
    feats, lab, fuzzy = _paired(spatial, device=device)
    loss = class_conditional_alignment_loss(feats, lab, fuzzy, classes=[0, 1], min_weight=4)
    assert loss.dtype == torch.float32 and loss.item() == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("spatial", [(8, 6), (4, 4, 6)])
def test_grows_with_the_mean_shift_as_d_squared_times_channels(device, spatial):
    # fuzzy = stable + d in every channel: same variances, ||Δμ||² = F·d² per class; mean over classes = F·d²
    for d, expected in [(0.5, 3 * 0.25), (1.0, 3 * 1.0), (2.0, 3 * 4.0)]:
        feats, lab, fuzzy = _paired(spatial, n_features=3, shift=d, device=device)
        loss = class_conditional_alignment_loss(feats, lab, fuzzy, classes=[0, 1], min_weight=4)
        assert loss.item() == pytest.approx(expected, rel=1e-4)


def test_hand_checked_variance_term():
    # class 0 only; stable values {-1, 1} (mean 0, var 1), fuzzy values {-2, 2} (mean 0, var 4): W2² = (2-1)² = 1
    feats = torch.tensor([-1.0, 1.0, -2.0, 2.0]).view(1, 1, 4)
    fuzzy = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    loss = class_conditional_alignment_loss(feats, torch.zeros(1, 4, dtype=torch.long), fuzzy, [0], min_weight=2)
    assert loss.item() == pytest.approx(1.0)


def test_gradient_reaches_only_fuzzy_side_features():
    feats, lab, fuzzy = _paired((4, 4, 6), shift=1.0)
    feats.requires_grad_(True)
    class_conditional_alignment_loss(feats, lab, fuzzy, classes=[0, 1], min_weight=4).backward()
    assert feats.grad[:, :, 0].abs().max().item() == 0.0  # stable side: detached
    assert feats.grad[:, :, 1].abs().min().item() > 0.0  # fuzzy side: every voxel is pulled


def test_soft_membership_splits_a_voxel_between_both_sides():
    # m = 1/2 everywhere: both sides are the same weighted distribution → 0, whatever the features
    feats = torch.randn(2, 4, 5, 6, requires_grad=True)
    lab = torch.randint(0, 2, (2, 5, 6))
    loss = class_conditional_alignment_loss(feats, lab, torch.full((2, 5, 6), 0.5), [0, 1], min_weight=2)
    assert loss.item() == pytest.approx(0.0, abs=1e-5)


def test_classes_with_too_little_weight_are_skipped():
    feats, lab, fuzzy = _paired((8, 6), shift=1.0)
    # per class and side: 8·6/2 = 24 voxels
    used = class_conditional_alignment_loss(feats, lab, fuzzy, classes=[0, 1], min_weight=24)
    assert used.item() == pytest.approx(3.0, rel=1e-4)
    feats.requires_grad_(True)
    skipped = class_conditional_alignment_loss(feats, lab, fuzzy, classes=[0, 1], min_weight=25)
    assert skipped.item() == 0.0 and skipped.requires_grad
    skipped.backward()
    assert feats.grad.abs().max().item() == 0.0
    # class 1 loses its fuzzy voxels: only class 0 is used, the mean is over it alone (3·1² = 3, not 3/2)
    fz = fuzzy.clone(); fz[lab == 1] = 0.0
    assert class_conditional_alignment_loss(feats, lab, fz, [0, 1], min_weight=24).item() == pytest.approx(3.0, 1e-4)
    # an absent class is never used
    assert class_conditional_alignment_loss(feats, lab, fuzzy, [0, 1, 2], 24).item() == pytest.approx(3.0, 1e-4)


def test_valid_mask_removes_voxels():
    feats, lab, fuzzy = _paired((8, 6), shift=1.0)
    feats[:, :, 1, :4] += 100.0  # corrupt fuzzy voxels in rows 0..3, then mask them out
    valid = torch.ones_like(lab, dtype=torch.bool)
    valid[:, :, :4] = False
    loss = class_conditional_alignment_loss(feats, lab, fuzzy, [0, 1], min_weight=4, valid_mask=valid)
    assert loss.item() == pytest.approx(3.0, rel=1e-4)


def test_autocast_computes_in_float32():
    feats, lab, fuzzy = _paired((4, 4, 6), shift=0.5)
    feats = feats.bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = class_conditional_alignment_loss(feats, lab, fuzzy, [0, 1], min_weight=4)
    reference = class_conditional_alignment_loss(feats.float(), lab, fuzzy, [0, 1], min_weight=4)
    assert loss.dtype == torch.float32 and loss.item() == reference.item()


def test_shape_errors():
    feats = torch.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match="spatial shape"):
        class_conditional_alignment_loss(feats, torch.zeros(1, 4, 5, dtype=torch.long), torch.zeros(1, 4, 5), [0])
    with pytest.raises(ValueError, match="fuzzy"):
        class_conditional_alignment_loss(feats, torch.zeros(1, 4, 4, dtype=torch.long), torch.zeros(1, 4), [0])
    with pytest.raises(ValueError, match="valid_mask"):
        class_conditional_alignment_loss(feats, torch.zeros(1, 4, 4, dtype=torch.long), torch.zeros(1, 4, 4), [0],
                                         valid_mask=torch.ones(1, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least one class"):
        class_conditional_alignment_loss(feats, torch.zeros(1, 4, 4, dtype=torch.long), torch.zeros(1, 4, 4), [])
