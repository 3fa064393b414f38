"""Voxel-agent rollouts for both state modes (docs/METHOD.md §1.2 "Two state modes, one rollout code path").

An observer turns a state into what the head and the reward need: decoder features and the foreground prediction
f that is compared with the reference G.

* :class:`BeliefObserver` (``belief`` mode): the state is the foreground probability itself; features stay fixed,
  so a step costs one head evaluation. Agent (voxel, class k) is rewarded for class k.
* :class:`IntensityObserver` (``intensity`` mode, the paper's literal action): the state is the input patch in
  [0, 1]; every observation re-runs the segmentation network on the refined input. Agents are (voxel, input
  channel); there is no class to match, so an agent receives the class-mean reward of its voxel.

A rollout takes t_max steps of :func:`nnunet_svl.rl.actions.apply_actions` with actions drawn from the head's policy
(Gumbel-max sampling with an optional generator), rewards each step with
:func:`nnunet_svl.rl.reward.composite_reward` (no gradient) and bootstraps the return with V(s_T) (detached), i.e. it
treats the t_max steps as a window of an ongoing refinement, so V(s) needs no notion of remaining steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol

import torch

from nnunet_svl.rl.actions import ACTION_NAMES, NUM_ACTIONS, apply_actions, sample_uniform_eps
from nnunet_svl.rl.returns import nstep_returns
from nnunet_svl.rl.reward import composite_reward, extra_components

GREEDY_EPS = 0.5
"""ε used by greedy (inference-time) steps: the expectation of U(0, 1), so refinement is deterministic."""


@dataclass
class Observation:
    features: torch.Tensor
    """(B, F, *sp) input of the head."""
    prediction: torch.Tensor
    """(B, K', *sp) foreground probabilities compared with the reference G."""


class Observer(Protocol):
    per_class_agents: bool
    """True when agent channel k is foreground class k (its reward is that class's); False: class-mean reward."""

    def observe(self, state: torch.Tensor) -> Observation: ...


class AgentHead(Protocol):
    """What a rollout needs from the head (:class:`nnunet_svl.rl.head.VA3CHead`)."""

    def embed(self, features: torch.Tensor) -> torch.Tensor: ...

    def decide(self, embedding: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


class BeliefObserver:
    """``belief`` mode: fixed features; the prediction is the state (foreground probabilities)."""

    per_class_agents = True

    def __init__(self, features: torch.Tensor):
        self.features = features

    def observe(self, state: torch.Tensor) -> Observation:
        return Observation(self.features, state)


class IntensityObserver:
    """``intensity`` mode: ``segment(network_input) -> (features, fg_probs)`` re-run on ``to_network_input(state)``
    (the inverse of the [0, 1] rescaling) at every observation."""

    per_class_agents = False

    def __init__(self, segment: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
                 to_network_input: Callable[[torch.Tensor], torch.Tensor]):
        self.segment = segment
        self.to_network_input = to_network_input

    def observe(self, state: torch.Tensor) -> Observation:
        features, prediction = self.segment(self.to_network_input(state))
        return Observation(features, prediction)


@dataclass
class RolloutResult:
    """Per-step lists hold (B, K, *sp) tensors of the agents (K = state channels)."""

    log_probs: list[torch.Tensor]
    """log π(a_t|s_t) of the taken actions (with gradient)."""
    entropies: list[torch.Tensor]
    """H(π(·|s_t)) (with gradient)."""
    values: list[torch.Tensor]
    """V(s_t) (with gradient)."""
    rewards: list[torch.Tensor]
    """Agent rewards r_t (no gradient; 0 outside the valid mask)."""
    returns: list[torch.Tensor]
    """n-step returns R_t bootstrapped with ``bootstrap_value``."""
    bootstrap_value: torch.Tensor
    """V(s_T), detached."""
    final_state: torch.Tensor
    mean_reward: torch.Tensor
    """Mean agent reward per step over valid voxels, averaged over steps (0-d tensor, not read in the step)."""
    action_count_tensor: torch.Tensor
    """How often each action was taken over all agents and steps, in ``ACTION_NAMES`` order (on the device)."""

    @property
    def action_counts(self) -> dict[str, int]:
        """``action_count_tensor`` keyed by ``ACTION_NAMES`` (reads the device: diagnostics and tests only)."""
        return dict(zip(ACTION_NAMES, self.action_count_tensor.tolist()))


class _EmbeddingCache:
    """Calls ``head.embed`` only when the features tensor changes (belief mode: once per rollout)."""

    def __init__(self, head: AgentHead):
        self.head = head
        self.source: Optional[torch.Tensor] = None
        self.embedding: Optional[torch.Tensor] = None

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        if features is not self.source:
            self.source, self.embedding = features, self.head.embed(features)
        return self.embedding


def _argmax_over_actions(scores: torch.Tensor) -> torch.Tensor:
    """argmax over dim 2 of (B, K, 3, *sp) by elementwise comparisons (first maximum wins, like torch.argmax).

    torch.argmax over a small, non-innermost dimension is slow on CPU (it was a third of a rollout's time)."""
    s0, s1, s2 = scores.unbind(2)
    best = (s1 > s0).long()
    return torch.where(s2 > torch.maximum(s0, s1), torch.full_like(best, 2), best)


def _act(logits: torch.Tensor, state: torch.Tensor, generator: Optional[torch.Generator], greedy: bool,
         action_scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Choose actions from (B, K, 3, *sp) logits and apply them: (actions, log π(a), entropy, new state)."""
    log_pi = torch.log_softmax(logits.float(), dim=2)
    if greedy:
        actions = _argmax_over_actions(log_pi)
        eps: torch.Tensor | float = GREEDY_EPS
    else:  # Gumbel-max: argmax(log π + G), G = −log(−log U), U ~ U(0, 1)
        u = sample_uniform_eps(log_pi.shape, generator, log_pi.device).clamp_(1e-10, 1.0 - 1e-7)
        actions = _argmax_over_actions(log_pi - torch.log(-torch.log(u)))
        eps = sample_uniform_eps(state.shape, generator, state.device)
    log_prob = log_pi.gather(2, actions.unsqueeze(2)).squeeze(2)
    entropy = -(log_pi.exp() * log_pi).sum(dim=2)
    new_state = apply_actions(state.detach(), actions, eps, action_scale)
    return actions, log_prob, entropy, new_state


def _check_shapes(head: Any, state0: torch.Tensor) -> None:
    if state0.ndim not in (4, 5):
        raise ValueError(f"state must be (B, K, X, Y) or (B, K, X, Y, Z), got shape {tuple(state0.shape)}")
    k = getattr(head, "num_agents_channels", state0.shape[1])
    if state0.shape[1] != k:
        raise ValueError(f"state has {state0.shape[1]} channels but the head has {k} agent channels")


def _valid_count(valid_mask: Optional[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    if valid_mask is None:
        return torch.tensor(float(like.numel()), device=like.device)
    return valid_mask.to(device=like.device, dtype=torch.bool).expand_as(like).sum().clamp_min(1)


def component_penalties(binarised: list[torch.Tensor], reference: torch.Tensor, valid_mask: Optional[torch.Tensor],
                        reward_kwargs: dict) -> list[torch.Tensor]:
    """−λ_C · Δlog(1 + max(N_cc − 1, 0)) of every step (METHOD §1.1; :mod:`nnunet_svl.rl.reward`), broadcast over
    each case's and class's agents and 0 outside ``valid_mask``: the components term of the composite reward for all
    steps at once, from the t_max + 1 binarised predictions (one device-to-host copy)."""
    steps = torch.stack(binarised)                                  # (T + 1, B, K, *sp)
    flat = steps.reshape((-1,) + tuple(steps.shape[2:]))
    extra = extra_components(flat, reward_kwargs.get("connectivity", 26)).reshape(steps.shape[:3])
    log_extra = torch.log1p(extra)
    lambda_c = reward_kwargs.get("lambda_c", 0.1)
    expand = (...,) + (None,) * (reference.ndim - 2)
    out = []
    for t in range(steps.shape[0] - 1):
        penalty = (-lambda_c * (log_extra[t + 1] - log_extra[t]))[expand].expand_as(reference).float()
        if valid_mask is not None:
            penalty = penalty * valid_mask.to(device=penalty.device, dtype=torch.bool).expand_as(penalty)
        out.append(penalty)
    return out


def rollout(head: AgentHead, observer: Observer, state0: torch.Tensor, reference: torch.Tensor, t_max: int = 5,
            gamma: float = 0.95, generator: Optional[torch.Generator] = None, greedy: bool = False,
            reward_kwargs: Optional[dict] = None, valid_mask: Optional[torch.Tensor] = None,
            action_scale: float = 0.3,
            reward_map: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> RolloutResult:
    """Run the agents for ``t_max`` steps from ``state0`` (B, K, *sp) and collect what the A3C losses need
    (METHOD §1.1). ``reference``: G, (B, K', *sp) one-hot of the current label without background; ``valid_mask``
    bool broadcastable to (B, 1, *sp); ``reward_kwargs``: extra arguments of :func:`composite_reward` (lambda_c,
    w_local, w_dice, compute_components, ...); ``reward_map``: optional :class:`RewardMapConv` used inside the
    return recursion. The observer is called t_max + 1 times."""
    if t_max < 1:
        raise ValueError(f"t_max must be >= 1, got {t_max}")
    _check_shapes(head, state0)
    reward_kwargs = dict(reward_kwargs or {})
    embed = _EmbeddingCache(head)
    state = state0.detach()
    obs = observer.observe(state)
    if obs.prediction.shape != reference.shape:
        raise ValueError(f"prediction shape {tuple(obs.prediction.shape)} != reference shape "
                         f"{tuple(reference.shape)}")
    log_probs, entropies, values, rewards = [], [], [], []
    counts = torch.zeros(NUM_ACTIONS, dtype=torch.long, device=state.device)
    reward_sum = torch.zeros((), device=state.device)
    # the components term is added after the loop: the rewards are only read by the returns, so the t_max + 1
    # binarised predictions go to the CPU for cc3d in one copy per rollout instead of one per step (a host
    # synchronisation each on a GPU) [ours; the rewards are the same as step by step, tests/test_rl_rollout.py]
    count_components = reward_kwargs.pop("compute_components", True) and reward_kwargs.get("lambda_c", 0.1) != 0
    threshold = reward_kwargs.get("threshold", 0.5)
    binarised = [obs.prediction > threshold] if count_components else []
    tv_prev = None   # the previous step's TV map of the prediction that is this step's f_prev
    for _ in range(t_max):
        logits, value = head.decide(embed(obs.features), state)
        actions, log_prob, entropy, state = _act(logits, state, generator, greedy, action_scale)
        next_obs = observer.observe(state)
        terms = composite_reward(obs.prediction, next_obs.prediction, reference, valid_mask=valid_mask,
                                 compute_components=False, continuity_terms=False, tv_prev=tv_prev,
                                 **reward_kwargs)
        tv_prev = terms.tv_next
        if count_components:
            binarised.append(next_obs.prediction > threshold)
        log_probs.append(log_prob)
        entropies.append(entropy)
        values.append(value.float())
        rewards.append(terms.voxel)
        reward_sum = reward_sum + terms.mean
        counts += torch.stack([(actions == a).sum() for a in range(NUM_ACTIONS)])
        obs = next_obs
    if count_components:
        for t, penalty in enumerate(component_penalties(binarised, reference, valid_mask, reward_kwargs)):
            rewards[t] = rewards[t] + penalty
            reward_sum = reward_sum + (penalty.sum() / _valid_count(valid_mask, penalty))
    if not observer.per_class_agents:
        rewards = [r.mean(dim=1, keepdim=True).expand_as(state) for r in rewards]
    with torch.no_grad():
        _, bootstrap = head.decide(embed(obs.features), state)
    bootstrap = bootstrap.float().detach()
    return RolloutResult(log_probs=log_probs, entropies=entropies, values=values, rewards=rewards,
                         returns=nstep_returns(rewards, bootstrap, gamma, reward_map=reward_map),
                         bootstrap_value=bootstrap, final_state=state, mean_reward=reward_sum / t_max,
                         action_count_tensor=counts)


@torch.no_grad()
def refine(head: AgentHead, observer: Observer, state0: torch.Tensor, t_max: int = 5, greedy: bool = True,
           generator: Optional[torch.Generator] = None, action_scale: float = 0.3) -> torch.Tensor:
    """The final state after ``t_max`` steps, without gradient or rewards (correction rounds, METHOD §1.2).
    Greedy by default (argmax actions, ε = 0.5): deterministic. The observer is called t_max times."""
    if t_max < 1:
        raise ValueError(f"t_max must be >= 1, got {t_max}")
    _check_shapes(head, state0)
    embed = _EmbeddingCache(head)
    state = state0.detach()
    for _ in range(t_max):
        logits, _ = head.decide(embed(observer.observe(state).features), state)
        _, _, _, state = _act(logits, state, generator, greedy, action_scale)
    return state
