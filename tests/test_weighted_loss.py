import math

import pytest
import torch
from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss

from nnunet_svl.dale.weighted_loss import VoxelWeightedDCandCELoss, VoxelWeightedDeepSupervisionLoss

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
N_CLASSES = 3
IGNORE = 3  # nnU-Net puts the ignore label above the real classes


def _dice_kwargs(batch_dice, ddp=False):
    return {"batch_dice": batch_dice, "smooth": 1e-5, "do_bg": False, "ddp": ddp}


def _nnunet_loss(batch_dice, ignore_label, ce_kwargs=None, ddp=False):
    return DC_and_CE_loss(_dice_kwargs(batch_dice, ddp), dict(ce_kwargs or {}), weight_ce=1, weight_dice=1,
                          ignore_label=ignore_label, dice_class=MemoryEfficientSoftDiceLoss)


def _ours(batch_dice, ignore_label, ce_kwargs=None, ddp=False, **kw):
    return VoxelWeightedDCandCELoss(_dice_kwargs(batch_dice, ddp), dict(ce_kwargs or {}), ignore_label=ignore_label,
                                    **kw)


def _batch(spatial, ignore_label=None, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn((2, N_CLASSES, *spatial), generator=g).to(device)
    target = torch.randint(0, N_CLASSES, (2, 1, *spatial), generator=g)
    if ignore_label is not None:
        target[torch.rand(target.shape, generator=g) < 0.3] = ignore_label
    return logits, target.to(device)


CASES = [(sp, bd, il) for sp in [(6, 7), (4, 5, 6)] for bd in (True, False) for il in (None, IGNORE)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("spatial,batch_dice,ignore_label", CASES)
def test_equals_nnunet_without_weights_and_with_unit_weights(device, spatial, batch_dice, ignore_label):
    logits, target = _batch(spatial, ignore_label, device=device)
    ref_logits = logits.clone().requires_grad_(True)
    reference = _nnunet_loss(batch_dice, ignore_label)(ref_logits, target)
    reference.backward()
    ours = _ours(batch_dice, ignore_label)
    assert torch.equal(ours(logits, target), reference)  # None: nnU-Net's exact operations
    x = logits.clone().requires_grad_(True)
    unit = ours(x, target, torch.ones_like(target, dtype=torch.float32))
    unit.backward()
    torch.testing.assert_close(unit, reference, atol=1e-6, rtol=0)
    torch.testing.assert_close(x.grad, ref_logits.grad, atol=1e-7, rtol=1e-5)


def test_unit_weights_equal_nnunet_with_ce_class_weights_and_float_targets():
    logits, target = _batch((5, 6, 4), IGNORE)
    ce_kwargs = {"weight": torch.tensor([0.2, 1.0, 3.0])}
    reference = _nnunet_loss(True, IGNORE, ce_kwargs)(logits, target.float())
    ours = _ours(True, IGNORE, ce_kwargs)(logits, target.float(), torch.ones(target.shape))
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=0)


def test_weighted_ce_hand_checked():
    # one sample, 2 classes, 3 voxels; logits (0, 0) everywhere → ce = ln 2 per voxel; w = [0, 1, 2]; voxel 2 is the
    # ignore label: CE = (0·ln2 + 1·ln2 + 0) / N_valid(2) = ln2/2
    loss = VoxelWeightedDCandCELoss(_dice_kwargs(False), {}, weight_ce=1, weight_dice=0, ignore_label=2)
    target = torch.tensor([0, 1, 2]).view(1, 1, 3)
    value = loss(torch.zeros(1, 2, 3), target, torch.tensor([0.0, 1.0, 2.0]).view(1, 1, 3))
    assert value.item() == pytest.approx(math.log(2) / 2)


def test_weighted_dice_hand_checked():
    # 2 classes, do_bg False → foreground Dice only. p_fg = softmax → logits (0, ln 3) gives p_fg = 3/4 at voxel 0,
    # logits (0, 0) gives 1/2 at voxel 1; y_fg = [1, 0]; w = [2, 1]:
    # I = 2·3/4 = 3/2, Σ w p = 2·3/4 + 1/2 = 2, Σ w y = 2 → Dice = (3 + s)/(4 + s), s = 1e-5; loss = -Dice
    loss = VoxelWeightedDCandCELoss(_dice_kwargs(False), {}, weight_ce=0, weight_dice=1)
    logits = torch.tensor([[0.0, 0.0], [math.log(3), 0.0]]).view(1, 2, 2)
    value = loss(logits, torch.tensor([1, 0]).view(1, 1, 2), torch.tensor([2.0, 1.0]).view(1, 1, 2))
    assert value.item() == pytest.approx(-(3 + 1e-5) / (4 + 1e-5), rel=1e-6)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("spatial", [(6, 7), (4, 5, 6)])
def test_zero_weight_removes_a_voxels_gradient(device, spatial):
    logits, target = _batch(spatial, IGNORE, device=device)
    weight = torch.rand(target.shape, generator=torch.Generator().manual_seed(3)).to(device)
    weight[:, :, :2] = 0.0
    x = logits.clone().requires_grad_(True)
    loss = _ours(True, IGNORE)(x, target, weight)
    loss.backward()
    assert x.grad[:, :, :2].abs().max().item() == 0.0
    assert x.grad[:, :, 2:].abs().max().item() > 0.0
    # and changing the logits there does not change the loss
    changed = logits.clone()
    changed[:, :, :2] += 5.0
    torch.testing.assert_close(_ours(True, IGNORE)(changed, target, weight), loss.detach(), atol=1e-6, rtol=0)


@pytest.mark.parametrize("batch_dice", [True, False])
def test_doubling_weights_keeps_dice_and_doubles_ce(batch_dice):
    logits, target = _batch((4, 5, 6), IGNORE)
    weight = torch.rand(target.shape, generator=torch.Generator().manual_seed(4)) + 0.1
    dice = _ours(batch_dice, IGNORE, weight_ce=0)
    torch.testing.assert_close(dice(logits, target, 2 * weight), dice(logits, target, weight), atol=1e-6, rtol=0)
    ce = _ours(batch_dice, IGNORE, weight_dice=0)
    torch.testing.assert_close(ce(logits, target, 2 * weight), 2 * ce(logits, target, weight))


def test_all_voxels_ignored_gives_dice_only_like_nnunet():
    logits, _ = _batch((4, 4))
    target = torch.full((2, 1, 4, 4), IGNORE)
    reference = _nnunet_loss(True, IGNORE)(logits, target)
    ours = _ours(True, IGNORE)(logits, target, torch.ones(target.shape))
    assert torch.isfinite(ours) and torch.equal(ours, reference)


def test_autocast_matches_nnunet():
    logits, target = _batch((4, 5, 6), IGNORE)
    weight = torch.ones(target.shape)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x = logits.bfloat16()
        reference = _nnunet_loss(True, IGNORE)(x, target)
        plain = _ours(True, IGNORE)(x, target)
        unit = _ours(True, IGNORE)(x, target, weight.bfloat16())
    assert unit.dtype == torch.float32
    assert torch.equal(plain, reference)
    torch.testing.assert_close(unit, reference, atol=1e-6, rtol=0)


def test_batch_dice_ddp_all_gather_path(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        logits, target = _batch((4, 5, 6), IGNORE)
        reference = _nnunet_loss(True, IGNORE, ddp=True)(logits, target)
        x = logits.clone().requires_grad_(True)
        ours = _ours(True, IGNORE, ddp=True)(x, target, torch.ones(target.shape))
        ours.backward()
        torch.testing.assert_close(ours, reference, atol=1e-6, rtol=0)
        assert torch.isfinite(x.grad).all()
    finally:
        dist.destroy_process_group()


def test_weight_shape_and_reduction_are_checked():
    logits, target = _batch((4, 4))
    with pytest.raises(ValueError, match="voxel_weight"):
        _ours(True, None)(logits, target, torch.ones(2, 4, 4))
    with pytest.raises(ValueError, match="reduction"):
        _ours(True, None, ce_kwargs={"reduction": "sum"})


def _ds_batch(spatial_full, n_scales=3, ignore_label=None):
    outputs, targets = [], []
    for k in range(n_scales):
        sp = tuple(max(s // 2 ** k, 1) for s in spatial_full)
        o, t = _batch(sp, ignore_label, seed=k)
        outputs.append(o); targets.append(t)
    return outputs, targets


@pytest.mark.parametrize("spatial", [(8, 8), (8, 8, 4)])
def test_deep_supervision_equals_nnunet_wrapper(spatial):
    factors = [4 / 7, 2 / 7, 1 / 7, 0.0]  # nnU-Net's 1/2^k with the last scale off, normalised
    outputs, targets = _ds_batch(spatial, n_scales=4, ignore_label=IGNORE)
    nnunet_loss = DeepSupervisionWrapper(_nnunet_loss(True, IGNORE), factors)
    reference = nnunet_loss(outputs, targets)
    ours = VoxelWeightedDeepSupervisionLoss.like(nnunet_loss)
    assert ours.weight_factors == tuple(factors)
    assert torch.equal(ours(outputs, targets), reference)
    ones = [torch.ones(t.shape) for t in targets]
    torch.testing.assert_close(ours(outputs, targets, ones), reference, atol=1e-6, rtol=0)
    # each scale is weighted with its own map: zeroing the maps of a scale with factor 0 changes nothing,
    # weighting a used scale does
    half = [w.clone() for w in ones]
    half[3].zero_()
    torch.testing.assert_close(ours(outputs, targets, half), reference, atol=1e-6, rtol=0)
    half[0][:, :, :4] = 0.0
    assert abs(ours(outputs, targets, half).item() - reference.item()) > 1e-4
    with pytest.raises(ValueError, match="per scale"):
        ours(outputs, targets, ones[:2])


def test_like_copies_nnunet_settings_and_accepts_a_single_scale():
    source = DC_and_CE_loss(_dice_kwargs(False), {"weight": torch.tensor([1.0, 2.0, 3.0])}, weight_ce=0.5,
                            weight_dice=2.0, ignore_label=IGNORE, dice_class=MemoryEfficientSoftDiceLoss)
    source.dc = torch.compile(source.dc)  # what nnUNetTrainer._build_loss does when compiling (lazy: not run here)
    wrapped = VoxelWeightedDeepSupervisionLoss.like(source)
    inner = wrapped.loss
    assert wrapped.weight_factors == (1.0,)
    assert (inner.weight_ce, inner.weight_dice, inner.ignore_label) == (0.5, 2.0, IGNORE)
    assert (inner.dc.batch_dice, inner.dc.do_bg, inner.dc.smooth, inner.dc.ddp) == (False, False, 1e-5, False)
    assert torch.equal(inner.ce.weight, torch.tensor([1.0, 2.0, 3.0])) and inner.ce.ignore_index == IGNORE
    logits, target = _batch((4, 5), IGNORE)
    plain = DC_and_CE_loss(_dice_kwargs(False), {"weight": torch.tensor([1.0, 2.0, 3.0])}, weight_ce=0.5,
                           weight_dice=2.0, ignore_label=IGNORE, dice_class=MemoryEfficientSoftDiceLoss)
    assert torch.equal(wrapped(logits, target), plain(logits, target))  # single tensors, not lists
    with pytest.raises(TypeError, match="DC_and_CE_loss"):
        VoxelWeightedDCandCELoss.like(torch.nn.CrossEntropyLoss())


def test_class_balanced_weights_hand_checked():
    from nnunet_svl.dale.weighted_loss import class_balanced_weights

    # sample 0: background [1, 0.5] (N=2, Σw=1.5 → gain 4/3), lesion [0.25, 0.25] (N=2, Σw=0.5 → gain 4)
    # sample 1: lesion weights all 0 stay 0; ignore label 2 and nnU-Net's -1 keep their weights
    w = torch.tensor([[1.0, 0.5, 0.25, 0.25], [0.5, 0.0, 0.7, 0.3]]).reshape(2, 1, 4)
    y = torch.tensor([[0, 0, 1, 1], [0, 1, 2, -1]]).reshape(2, 1, 4)
    out = class_balanced_weights(w, y, num_classes=2, ignore_label=2)
    expected = torch.tensor([[4 / 3, 2 / 3, 1.0, 1.0], [1.0, 0.0, 0.7, 0.3]]).reshape(2, 1, 4)
    assert torch.allclose(out, expected)
    # per class, the total weight equals the voxel count (its weight with w = 1)
    assert torch.isclose(out[0, 0, :2].sum(), torch.tensor(2.0)) and torch.isclose(out[0, 0, 2:].sum(), torch.tensor(2.0))
    # the gain is capped: one lesion voxel at 0.01 would get ×100, capped at ×10
    capped = class_balanced_weights(torch.tensor([[[1.0, 0.01]]]), torch.tensor([[[0, 1]]]), 2, max_gain=10.0)
    assert torch.allclose(capped, torch.tensor([[[1.0, 0.1]]]))
    # unit weights are unchanged, so the loss still equals nnU-Net's
    ones = torch.ones(2, 1, 4)
    assert torch.equal(class_balanced_weights(ones, y.clamp(max=1), 2), ones)
