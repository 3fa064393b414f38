"""n-step returns, pixel-wise A3C losses and the reward-map convolution (METHOD.md §1.1 pixelRL defaults)."""
from __future__ import annotations

import pytest
import torch

from nnunet_svl.rl.returns import RewardMapConv, a3c_losses, nstep_returns


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).reshape(1, 1, -1, 1)


def flat(xs: list[torch.Tensor]) -> list[list[float]]:
    return [x.flatten().tolist() for x in xs]


def test_nstep_returns_hand_computed():
    # [1, 1, 1], γ = .5, bootstrap 2: R0 = 1 + .5 + .25 + .125·2 = 2, and likewise R1 = R2 = 2
    assert flat(nstep_returns([t(1), t(1), t(1)], t(2), gamma=0.5)) == [[2.0], [2.0], [2.0]]
    # [1, 2, 3], γ = .5, bootstrap 4: R2 = 3 + 2 = 5, R1 = 2 + 2.5 = 4.5, R0 = 1 + 2.25 = 3.25
    assert flat(nstep_returns([t(1), t(2), t(3)], t(4), gamma=0.5)) == [[3.25], [4.5], [5.0]]
    # no bootstrap: R2 = 3, R1 = 2 + 1.5 = 3.5, R0 = 1 + 1.75 = 2.75
    assert flat(nstep_returns([t(1), t(2), t(3)], None, gamma=0.5)) == [[2.75], [3.5], [3.0]]
    # per voxel: two voxels, γ = .95: R0 = r0 + .95·r1
    r0, r1 = flat(nstep_returns([t(1, 0), t(0, 1)], None, gamma=0.95))
    assert r0 == pytest.approx([1.0, 0.95]) and r1 == [0.0, 1.0]
    with pytest.raises(ValueError):
        nstep_returns([], None)


def test_nstep_returns_with_reward_map():
    # reward_map doubles R_{t+1}: R1 = 1 + .5·2·1 = 2, R0 = 1 + .5·2·2 = 3
    assert flat(nstep_returns([t(1), t(1)], t(1), gamma=0.5, reward_map=lambda r: 2 * r)) == [[3.0], [2.0]]


def test_value_and_policy_numbers_and_mask():
    # step 0: log π [-1, -2], V [.5, 1], R [1.5, .5] → A [1, -.5]; H [1, .5]
    # step 1: log π [-.5, -1], V [0, 0],  R [.5, 0]  → A [.5, 0];  H [.2, .3]
    lp = [t(-1, -2), t(-.5, -1)]
    ent = [t(1, .5), t(.2, .3)]
    val = [t(.5, 1), t(0, 0)]
    ret = [t(1.5, .5), t(.5, 0)]
    out = a3c_losses(lp, ent, val, ret, entropy_weight=0.1)
    # value: mean(1, .25, .25, 0) = .375
    assert out.value.item() == pytest.approx(.375)
    # policy: −mean(−1·1, −2·−.5, −.5·.5, 0) − .1·mean(1, .5, .2, .3) = −(−.25/4) − .1·.5 = .0625 − .05
    assert out.policy.item() == pytest.approx(.0125)
    assert out.entropy.item() == pytest.approx(.5)
    assert out.advantage_mean.item() == pytest.approx(1 / 4)
    # mask out the second voxel (broadcast over steps): value mean(1, .25) = .625;
    # policy −mean(−1, −.25) − .1·mean(1, .2) = .625 − .06
    valid = torch.tensor([True, False]).reshape(1, 1, 2, 1)
    masked = a3c_losses(lp, ent, val, ret, entropy_weight=0.1, valid_mask=valid)
    assert masked.value.item() == pytest.approx(.625)
    assert masked.policy.item() == pytest.approx(.565)


def test_policy_gradient_sign():
    # one agent, 3 actions, taken action 1; positive advantage → raising its logit lowers the loss
    for advantage, sign in ((1.0, -1), (-1.0, 1)):
        logits = torch.zeros(1, 1, 3, 1, 1, requires_grad=True)
        log_pi = torch.log_softmax(logits, dim=2)
        lp = log_pi[:, :, 1]
        ent = -(log_pi.exp() * log_pi).sum(2)
        v = torch.zeros(1, 1, 1, 1, requires_grad=True)
        out = a3c_losses([lp], [ent], [v], [torch.full((1, 1, 1, 1), advantage)], entropy_weight=0.0)
        out.policy.backward()
        assert torch.sign(logits.grad[0, 0, 1]).item() == sign
        assert v.grad is None or v.grad.abs().max().item() == 0  # V is detached in the policy term
    # the value loss moves V towards R: dL/dV = −2(R − V) = −2 for R = 1, V = 0
    v = torch.zeros(1, 1, 1, 1, requires_grad=True)
    a3c_losses([torch.zeros(1, 1, 1, 1)], [torch.zeros(1, 1, 1, 1)], [v], [torch.ones(1, 1, 1, 1)]).value.backward()
    assert v.grad.item() == pytest.approx(-2.0)


def test_empty_mask_and_bad_lengths():
    x = torch.ones(1, 1, 2, 2, requires_grad=True)
    out = a3c_losses([x], [x], [x], [x], valid_mask=torch.zeros(1, 1, 2, 2, dtype=torch.bool))
    assert out.value.item() == 0 and out.policy.item() == 0 and out.value.requires_grad
    with pytest.raises(ValueError, match="equally long"):
        a3c_losses([x], [x], [x, x], [x])


@pytest.mark.parametrize("dim", [2, 3])
def test_reward_map_conv_identity_init_and_mixing(dim):
    torch.manual_seed(0)
    x = torch.randn((2, 3) + (5,) * dim)
    conv = RewardMapConv(dim)
    assert torch.equal(conv(x), x)
    # a box kernel (all 1) on an impulse gives 1 at the impulse and its neighbours, per class channel independently
    impulse = torch.zeros((1, 2) + (5,) * dim)
    impulse[(0, 1) + (2,) * dim] = 1.0
    with torch.no_grad():
        conv.weight.fill_(1.0)
    mixed = conv(impulse)
    assert mixed[0, 1].sum().item() == pytest.approx(3 ** dim)
    assert mixed[0, 0].abs().sum().item() == 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert conv(x).dtype == torch.float32


def test_reward_map_conv_learns_and_rejects_bad_args():
    conv = RewardMapConv(2)
    conv(torch.ones(1, 1, 3, 3)).sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        RewardMapConv(4)
    with pytest.raises(ValueError):
        RewardMapConv(3, kernel_size=2)
    with pytest.raises(ValueError):
        conv(torch.ones(1, 1, 3, 3, 3))
