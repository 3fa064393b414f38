"""Composite reward and its parts (METHOD.md §1.1 composite reward, §1.2 per-voxel credit), hand-checked numbers."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nnunet_svl.rl.reward import (cc3d_connectivity, composite_reward, extra_components, soft_dice,
                                  surface_voxel_count, total_variation_map, tv_per_surface_voxel,
                                  voxel_total_variation)


def col(*values: float) -> torch.Tensor:
    """(1, 1, N, 1) tensor: a 1-D profile along X of a 2-D image."""
    return torch.tensor(values, dtype=torch.float32).reshape(1, 1, -1, 1)


def test_soft_dice_hand_computed_and_masked():
    # pred [1, .5, 0], ref [1, 1, 0]: 2·(1 + .5) / (1.5 + 2) = 3 / 3.5
    pred, ref = col(1, .5, 0), col(1, 1, 0)
    assert soft_dice(pred, ref).item() == pytest.approx(3 / 3.5, abs=1e-6)
    # without the middle voxel: 2·1 / (1 + 1) = 1
    valid = torch.tensor([True, False, True]).reshape(1, 1, 3, 1)
    assert soft_dice(pred, ref, valid).item() == pytest.approx(1.0, abs=1e-6)
    # two empty maps score 1; shape is (B, K)
    assert soft_dice(torch.zeros(2, 3, 2, 2, 2), torch.zeros(2, 3, 2, 2, 2)).tolist() == [[1.0] * 3] * 2


def test_tv_of_a_1d_step_2d_and_3d():
    step = col(0, 0, 1, 1)
    # forward differences [0, 1, 0] → map [0, 1, 0, 0]; the voxel share splits the jump: [0, .5, .5, 0]
    assert total_variation_map(step).flatten().tolist() == [0, 1, 0, 0]
    assert voxel_total_variation(step).flatten().tolist() == [0, .5, .5, 0]
    # one surface voxel (index 2; the patch border counts as foreground) → Σ|∇f| / 1 = 1
    assert surface_voxel_count(step).item() == 1
    assert tv_per_surface_voxel(step).item() == pytest.approx(1.0)
    step3d = step.reshape(1, 1, 4, 1, 1)
    assert total_variation_map(step3d).flatten().tolist() == [0, 1, 0, 0]
    # ramp [0, .25, .5, 1]: forward diffs .25, .25, .5 → map [.25, .25, .5, 0], Σ = 1
    assert total_variation_map(col(0, .25, .5, 1)).flatten().tolist() == [.25, .25, .5, 0]


def test_tv_per_surface_voxel_of_a_half_plane_and_empty_map():
    # 4×4 image, columns 2 and 3 foreground: TV = 4 rows · 1 jump = 4; surface = column 2 = 4 voxels → 1
    img = torch.zeros(1, 1, 4, 4)
    img[..., 2:] = 1
    assert total_variation_map(img).sum().item() == 4
    assert tv_per_surface_voxel(img).item() == pytest.approx(1.0)
    # no foreground: Σ|∇f| of a faint blob divided by max(0, 1) = 1; blob .2 in the middle of 3×3: 4 jumps of .2
    faint = torch.zeros(1, 1, 3, 3)
    faint[0, 0, 1, 1] = .2
    assert tv_per_surface_voxel(faint).item() == pytest.approx(0.8)


def test_extra_components_3d_2d_and_connectivity():
    b = np.zeros((1, 3, 4, 4, 4), dtype=bool)
    b[0, 0, 0, 0, 0] = b[0, 0, 3, 3, 3] = True  # two components → 1 extra
    b[0, 1, 1:3, 1:3, 1:3] = True  # one component → 0
    assert extra_components(b).tolist() == [[1.0, 0.0, 0.0]]  # empty class → 0
    diag = torch.zeros(1, 1, 3, 3, dtype=torch.bool)
    diag[0, 0, 0, 0] = diag[0, 0, 1, 1] = True
    assert extra_components(diag).tolist() == [[0.0]]  # 26 → 8 in 2-D: corners connect
    assert extra_components(diag, connectivity=6).tolist() == [[1.0]]  # 6 → 4 in 2-D: they do not
    assert extra_components(diag).device == diag.device
    with pytest.raises(ValueError, match="connectivity"):
        cc3d_connectivity(3, 8)


def test_delta_dice_sign_and_local_gain():
    # G = [1, 1, 0, 0]; f moves [.5, .5, 0, 0] → [.8, .8, 0, 0]
    # Dice before 2·1 / (1 + 2) = 2/3, after 2·1.6 / (1.6 + 2) = 8/9 → ΔDice = 2/9 > 0
    # local gain of the moved voxels: |.5 − 1| − |.8 − 1| = .3; TV: jump at the border .5 → .8, Δtv shares +.15
    g = col(1, 1, 0, 0)
    terms = composite_reward(col(.5, .5, 0, 0), col(.8, .8, 0, 0), g, lambda_c=0.0)
    assert terms.delta_dice.item() == pytest.approx(2 / 9, abs=1e-5)
    assert terms.voxel.flatten().tolist() == pytest.approx([.3 + 2 / 9, .3 + 2 / 9, 2 / 9, 2 / 9], abs=1e-5)
    # the reverse move is penalised symmetrically
    back = composite_reward(col(.8, .8, 0, 0), col(.5, .5, 0, 0), g, lambda_c=0.0)
    assert back.delta_dice.item() == pytest.approx(-2 / 9, abs=1e-5)
    assert back.voxel[0, 0, 0, 0].item() == pytest.approx(-.3 - 2 / 9, abs=1e-5)
    # only the local term: a move away from G on a background voxel is negative
    away = composite_reward(col(0, 0, 0, 0), col(0, 0, .3, 0), col(0, 0, 0, 0), w_dice=0.0, lambda_c=0.0)
    assert away.voxel.flatten().tolist() == pytest.approx([0, 0, -.3, 0])


def test_isolated_extra_component_is_penalised():
    # 6×6 image; object = 2×2 square at the corner, prediction exact. Variant b adds an isolated voxel (4, 4) = .6.
    g = torch.zeros(1, 1, 6, 6)
    g[0, 0, :2, :2] = 1
    f_b = g.clone()
    f_b[0, 0, 4, 4] = .6
    same = composite_reward(g, g.clone(), g)
    blob = composite_reward(g, f_b, g)
    assert same.voxel.abs().max().item() == 0
    assert float(blob.mean) < float(same.mean)
    assert blob.extra_components_next.item() == 1 and blob.extra_components_prev.item() == 0
    # far voxel (0, 5): ΔDice = 2·4 / 8.6 − 1 = −.0697674, Δtv = 0, ΔN_extra = log(1+1) − log(1+0) = log 2
    assert blob.voxel[0, 0, 0, 5].item() == pytest.approx(8 / 8.6 - 1 - .1 * math.log(2), abs=1e-5)
    # the blob voxel: local −.6, Δtv = ½·4·.6 = 1.2 → −.6 + ΔDice − .1·(1.2 + log 2)
    assert blob.voxel[0, 0, 4, 4].item() == pytest.approx(-.6 + (8 / 8.6 - 1) - .1 * (1.2 + math.log(2)), abs=1e-5)
    # continuity C = N_extra + TV per surface voxel: TV 2.4 + 4 (the square's two inner sides, 2 each) over
    # 3 + 1 surface voxels (corner (0, 0) only touches the square and the border, which counts as foreground)
    assert blob.continuity_next.item() == pytest.approx(1 + (2.4 + 4) / 4, abs=1e-5)
    assert same.continuity_prev.item() == pytest.approx(4 / 3, abs=1e-5)


def test_component_cache_and_switch():
    g = torch.zeros(1, 1, 5, 5)
    g[0, 0, 0, 0] = g[0, 0, 4, 4] = 1
    f1 = g * .9
    cached = composite_reward(g, f1, g, components_prev=torch.tensor([[1.0]]))
    fresh = composite_reward(g, f1, g)
    assert torch.equal(cached.voxel, fresh.voxel) and fresh.extra_components_prev.item() == 1
    off = composite_reward(g, f1, g, compute_components=False)
    assert off.extra_components_next.item() == 0
    assert off.continuity_next.item() == pytest.approx(tv_per_surface_voxel(f1).item())


def test_invalid_voxels_get_zero_and_do_not_enter_dice():
    g = col(1, 1, 0, 0)
    valid = torch.tensor([True, True, True, False]).reshape(1, 1, 4, 1)
    terms = composite_reward(col(.5, .5, 0, .2), col(.8, .8, 0, .9), g, valid_mask=valid, lambda_c=0.0)
    assert terms.voxel[0, 0, 3, 0].item() == 0
    # the invalid voxel's .2 → .9 is ignored by Dice: same ΔDice as without it (2/9)
    assert terms.delta_dice.item() == pytest.approx(2 / 9, abs=1e-5)
    # mean over the 3 valid voxels: (2·(.3 + 2/9) + 2/9) / 3
    assert float(terms.mean) == pytest.approx((2 * (.3 + 2 / 9) + 2 / 9) / 3, abs=1e-5)


def test_batch_classes_3d_half_precision_and_errors():
    torch.manual_seed(0)
    f0 = torch.rand(2, 3, 4, 5, 6).half()
    f1 = torch.rand(2, 3, 4, 5, 6).half()
    g = (torch.rand(2, 3, 4, 5, 6) > .5).float()
    terms = composite_reward(f0, f1, g, valid_mask=torch.ones(2, 1, 4, 5, 6, dtype=torch.bool))
    assert terms.voxel.shape == (2, 3, 4, 5, 6) and terms.voxel.dtype == torch.float32
    assert terms.delta_dice.shape == terms.continuity_prev.shape == (2, 3)
    with pytest.raises(ValueError, match="same"):
        composite_reward(f0, f1, g[:, :2])
    with pytest.raises(ValueError, match="expected"):
        soft_dice(torch.zeros(2, 3), torch.zeros(2, 3))


def test_voxel_tv_shares_sum_to_tv_and_a_shifting_boundary_is_not_penalised():
    torch.manual_seed(1)
    f = torch.rand(2, 2, 3, 4, 5)
    assert voxel_total_variation(f).sum().item() == pytest.approx(total_variation_map(f).sum().item(), rel=1e-5)
    # monotone profile [0, .6, 1] → [0, .7, 1]: edges |.6 − 0| → .7 and |1 − .6| → .3, the middle share ½(.1 − .1) = 0
    terms = composite_reward(col(0, .6, 1), col(0, .7, 1), col(0, 1, 1), w_local=0.0, w_dice=0.0, lambda_c=1.0,
                             compute_components=False)
    assert terms.voxel.flatten().tolist() == pytest.approx([-.05, 0, .05])  # the neighbours' half-edges move
