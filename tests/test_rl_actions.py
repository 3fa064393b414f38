"""SVL-DRL actions (METHOD.md §1.1): hand-computed keep / enhance / weaken values."""
from __future__ import annotations

import pytest
import torch

from nnunet_svl.rl.actions import ENHANCE, KEEP, WEAKEN, apply_actions, sample_uniform_eps


def test_action_constants():
    assert (KEEP, ENHANCE, WEAKEN) == (0, 1, 2)


@pytest.mark.parametrize("spatial", [(1, 3), (1, 3, 1)])
def test_hand_computed_values_2d_and_3d(spatial):
    # s = 0.5, ε = 0.5: enhance 0.5·(1 + 0.15) = 0.575, weaken 0.5·(1 − 0.15) = 0.425, keep 0.5
    state = torch.full((1, 1) + spatial, 0.5)
    actions = torch.tensor([KEEP, ENHANCE, WEAKEN]).reshape(state.shape)
    out = apply_actions(state, actions, 0.5)
    assert out.flatten().tolist() == pytest.approx([0.5, 0.575, 0.425])
    assert state.flatten().tolist() == [0.5, 0.5, 0.5]  # input untouched


def test_clipping_and_per_agent_eps():
    # s = 0.9, ε = 1: enhance 0.9·1.3 = 1.17 → clipped to 1.0; weaken 0.9·0.7 = 0.63
    # s = 0.2, ε = 0.25: enhance 0.2·1.075 = 0.215
    state = torch.tensor([0.9, 0.9, 0.2]).reshape(1, 1, 3, 1)
    actions = torch.tensor([ENHANCE, WEAKEN, ENHANCE]).reshape(1, 1, 3, 1)
    eps = torch.tensor([1.0, 1.0, 0.25]).reshape(1, 1, 3, 1)
    out = apply_actions(state, actions, eps)
    assert out.flatten().tolist() == pytest.approx([1.0, 0.63, 0.215])


def test_custom_scale_and_zero_state():
    # scale 0.5, ε = 1: weaken 0.4·0.5 = 0.2; a zero state stays zero under enhance
    state = torch.tensor([0.4, 0.0]).reshape(1, 1, 2, 1)
    actions = torch.tensor([WEAKEN, ENHANCE]).reshape(1, 1, 2, 1)
    assert apply_actions(state, actions, 1.0, scale=0.5).flatten().tolist() == pytest.approx([0.2, 0.0])


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="actions shape"):
        apply_actions(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 1, dtype=torch.long), 0.5)


def test_sample_uniform_eps_reproducible_and_in_range():
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = sample_uniform_eps((2, 1, 4, 4), g1, "cpu")
    b = sample_uniform_eps((2, 1, 4, 4), g2, "cpu")
    assert torch.equal(a, b) and a.shape == (2, 1, 4, 4)
    assert float(a.min()) >= 0 and float(a.max()) < 1
    assert not torch.equal(a, sample_uniform_eps((2, 1, 4, 4), g1, "cpu"))  # the generator advanced
    assert sample_uniform_eps((3,), None, "cpu").shape == (3,)
