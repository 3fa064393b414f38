"""Voxel-agent rollouts in belief and intensity mode (METHOD.md §1.1 actions/rewards, §1.2 state modes)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from nnunet_svl.rl.actions import ENHANCE
from nnunet_svl.rl.head import VA3CHead
from nnunet_svl.rl.returns import a3c_losses, nstep_returns
from nnunet_svl.rl.reward import composite_reward
from nnunet_svl.rl.rollout import BeliefObserver, IntensityObserver, refine, rollout


class AlwaysEnhance(nn.Module):
    """A head whose policy puts (almost) all mass on ENHANCE; value 0."""

    num_agents_channels = 1

    def embed(self, features):
        return features

    def decide(self, embedding, state):
        logits = torch.full((state.shape[0], state.shape[1], 3) + tuple(state.shape[2:]), -30.0)
        logits[:, :, ENHANCE] = 30.0
        return logits, torch.zeros_like(state)


def belief_inputs(spatial, k=2, b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn((b, 4) + spatial, generator=g)
    state = torch.rand((b, k) + spatial, generator=g)
    reference = (torch.rand((b, k) + spatial, generator=g) > 0.5).float()
    return features, state, reference


@pytest.mark.parametrize("spatial", [(5, 6), (4, 3, 5)])
def test_belief_rollout_shapes_and_returns(spatial):
    torch.manual_seed(0)
    head = VA3CHead(4, 2, dim=len(spatial), hidden=4)
    features, state, reference = belief_inputs(spatial)
    res = rollout(head, BeliefObserver(features), state, reference, t_max=3, gamma=0.9,
                  generator=torch.Generator().manual_seed(1))
    for seq in (res.log_probs, res.entropies, res.values, res.rewards, res.returns):
        assert len(seq) == 3 and all(x.shape == state.shape for x in seq)
    assert res.final_state.shape == state.shape
    assert 0 <= res.final_state.min() and res.final_state.max() <= 1
    assert sum(res.action_counts.values()) == 3 * state.numel()
    assert set(res.action_counts) == {"keep", "enhance", "weaken"}
    expected = nstep_returns(res.rewards, res.bootstrap_value, gamma=0.9)
    assert all(torch.allclose(a, b) for a, b in zip(res.returns, expected))
    assert not res.bootstrap_value.requires_grad and not any(r.requires_grad for r in res.rewards)
    # the losses reach the head's parameters and the features
    features.requires_grad_(True)
    res = rollout(head, BeliefObserver(features), state, reference, t_max=2)
    loss = a3c_losses(res.log_probs, res.entropies, res.values, res.returns)
    (loss.policy + loss.value).backward()
    assert features.grad.abs().sum() > 0
    assert all(p.grad is not None for p in head.parameters())


def test_seeded_generator_is_deterministic():
    head = VA3CHead(4, 2, dim=2, hidden=4)
    features, state, reference = belief_inputs((6, 6))

    def run(seed):
        return rollout(head, BeliefObserver(features), state, reference, t_max=3,
                       generator=torch.Generator().manual_seed(seed))

    a, b, c = run(5), run(5), run(6)
    assert torch.equal(a.final_state, b.final_state)
    assert all(torch.equal(x, y) for x, y in zip(a.log_probs, b.log_probs))
    assert float(a.mean_reward) == float(b.mean_reward)
    assert not torch.equal(a.final_state, c.final_state)


def test_greedy_refine_is_deterministic_and_matches_greedy_rollout():
    torch.manual_seed(3)
    head = VA3CHead(4, 2, dim=3, hidden=4)
    features, state, reference = belief_inputs((3, 4, 3))
    r1 = refine(head, BeliefObserver(features), state, t_max=4)
    r2 = refine(head, BeliefObserver(features), state, t_max=4)
    assert torch.equal(r1, r2) and not r1.requires_grad
    greedy = rollout(head, BeliefObserver(features), state, reference, t_max=4, greedy=True)
    assert torch.equal(greedy.final_state, r1)


def test_always_enhance_grows_the_state_as_computed_by_hand():
    state = torch.tensor([0.5, 0.9, 0.0, 0.2]).reshape(1, 1, 2, 2)
    features = torch.zeros(1, 1, 2, 2)
    # greedy: ε = .5, factor 1.15 per step. .5 → .575 → .66125 → .7604375; .9 → 1.0 (clipped); 0 stays 0;
    # .2 → .23 → .2645 → .304175
    out = refine(AlwaysEnhance(), BeliefObserver(features), state, t_max=3)
    assert out.flatten().tolist() == pytest.approx([0.7604375, 1.0, 0.0, 0.304175])
    # sampled: every step enhances by a random ε in [0, 1): the state never decreases, and with the same generator
    # the first step equals s·(1 + .3ε) for the ε drawn after the Gumbel noise (3 actions per agent)
    ref = torch.ones_like(state)
    res = rollout(AlwaysEnhance(), BeliefObserver(features), state, ref, t_max=3,
                  generator=torch.Generator().manual_seed(0))
    assert res.action_counts == {"keep": 0, "enhance": 12, "weaken": 0}
    g = torch.Generator().manual_seed(0)
    torch.rand((1, 1, 3, 2, 2), generator=g)  # the Gumbel draw of step 1
    eps = torch.rand((1, 1, 2, 2), generator=g)
    first = torch.clamp(state * (1 + 0.3 * eps), 0, 1)
    assert torch.allclose(res.rewards[0], composite_reward(state, first, ref).voxel)
    assert (res.final_state >= first).all() and (first >= state).all()
    assert res.rewards[0][0, 0, 0, 0] > 0  # moving .5 towards G = 1 pays


def test_intensity_mode_resegments_each_step_and_broadcasts_class_mean_reward():
    calls = []

    def segment(x):
        calls.append(x.clone())
        # features = the input; two foreground classes: p1 = mean over channels, p2 = 1 − p1
        p1 = x.mean(dim=1, keepdim=True).clamp(0, 1)
        return x, torch.cat([p1, 1 - p1], dim=1)

    head = VA3CHead(2, 2, dim=2, hidden=4)
    state = torch.rand(1, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    reference = torch.cat([torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)], dim=1)
    observer = IntensityObserver(segment, to_network_input=lambda s: 2 * s)
    res = rollout(head, observer, state, reference, t_max=3, generator=torch.Generator().manual_seed(1))
    assert len(calls) == 4  # t_max + 1
    assert torch.equal(calls[0], 2 * state)
    assert all(r.shape == state.shape for r in res.rewards)
    assert torch.equal(res.rewards[0][:, 0], res.rewards[0][:, 1])  # both input-channel agents get the voxel's reward
    calls.clear()
    refine(head, observer, state, t_max=3)
    assert len(calls) == 3


def test_valid_mask_reward_map_and_errors():
    head = VA3CHead(4, 2, dim=2, hidden=4)
    features, state, reference = belief_inputs((4, 4), b=1)
    valid = torch.ones(1, 1, 4, 4, dtype=torch.bool)
    valid[..., 0] = False
    res = rollout(head, BeliefObserver(features), state, reference, t_max=2, valid_mask=valid,
                  reward_kwargs={"lambda_c": 0.0}, reward_map=lambda r: 2 * r, gamma=0.5,
                  generator=torch.Generator().manual_seed(0))
    assert all(r[..., 0].abs().max() == 0 for r in res.rewards)
    # last step: R = r + γ·(2·V(s_T))
    assert torch.allclose(res.returns[-1], res.rewards[-1] + 0.5 * 2 * res.bootstrap_value)
    with pytest.raises(ValueError, match="reference"):
        rollout(head, BeliefObserver(features), state, reference[:, :1], t_max=1)
    with pytest.raises(ValueError, match="agent channels"):
        rollout(head, BeliefObserver(features), state[:, :1], reference[:, :1], t_max=1)
    with pytest.raises(ValueError, match="t_max"):
        refine(head, BeliefObserver(features), state, t_max=0)


def run_training_step(device: str, autocast_dtype: torch.dtype) -> None:
    """Rollout + A3C losses + backward under autocast; rewards and losses come out float32."""
    head = VA3CHead(4, 2, dim=3, hidden=4).to(device)
    features, state, reference = (x.to(device) for x in belief_inputs((4, 4, 4)))
    features.requires_grad_(True)
    generator = torch.Generator(device=device).manual_seed(0)
    with torch.autocast(device, dtype=autocast_dtype):
        res = rollout(head, BeliefObserver(features), state, reference, t_max=2, generator=generator,
                      valid_mask=torch.ones(2, 1, 4, 4, 4, dtype=torch.bool, device=device))
        loss = a3c_losses(res.log_probs, res.entropies, res.values, res.returns)
    assert res.rewards[0].dtype == res.returns[0].dtype == loss.value.dtype == loss.policy.dtype == torch.float32
    assert res.final_state.device.type == device
    (loss.value + loss.policy).backward()
    assert torch.isfinite(features.grad).all() and features.grad.abs().sum() > 0


def test_cpu_autocast_training_step():
    run_training_step("cpu", torch.bfloat16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_autocast_training_step():
    run_training_step("cuda", torch.float16)


def test_elementwise_argmax_over_actions_matches_torch():
    from nnunet_svl.rl.rollout import _argmax_over_actions

    g = torch.Generator().manual_seed(3)
    scores = torch.randint(0, 3, (2, 2, 3, 5, 6), generator=g).float()   # many ties: the first maximum must win
    assert torch.equal(_argmax_over_actions(scores), scores.argmax(dim=2))


@pytest.mark.parametrize("spatial", [(9, 8), (6, 5, 7)])
def test_components_counted_once_per_rollout_give_the_step_by_step_rewards(spatial):
    """The components term is added after the loop from one copy of all binarised predictions (no host
    synchronisation per step); every step's reward must equal composite_reward's step-by-step value."""
    class Recording(BeliefObserver):
        def __init__(self, features):
            super().__init__(features)
            self.seen = []

        def observe(self, state):
            self.seen.append(state.clone())
            return super().observe(state)

    torch.manual_seed(0)
    head = VA3CHead(4, 2, dim=len(spatial), hidden=4)
    features, state, reference = belief_inputs(spatial, seed=3)
    valid = torch.rand((2, 1) + spatial, generator=torch.Generator().manual_seed(4)) > 0.2
    kwargs = dict(lambda_c=0.5, w_local=1.0, w_dice=1.0)
    observer = Recording(features)
    res = rollout(head, observer, state, reference, t_max=4, generator=torch.Generator().manual_seed(2),
                  valid_mask=valid, reward_kwargs=kwargs, action_scale=0.6)
    seen = observer.seen[:5]
    expected = [composite_reward(a, b, reference, valid_mask=valid, **kwargs) for a, b in zip(seen, seen[1:])]
    assert any(bool((e.extra_components_next != e.extra_components_prev).any()) for e in expected)  # term active
    for got, e in zip(res.rewards, expected):
        assert torch.allclose(got, e.voxel, atol=1e-6)
    assert float(res.mean_reward) == pytest.approx(sum(float(e.mean) for e in expected) / 4, abs=1e-6)
