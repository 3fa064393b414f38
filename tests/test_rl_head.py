"""The vA3C head (METHOD.md §1.1 network, §1.2 separate head on decoder features + state)."""
from __future__ import annotations

import pytest
import torch

from nnunet_svl.rl.head import VA3CHead


@pytest.mark.parametrize("dim,spatial", [(2, (6, 5)), (3, (4, 5, 3))])
def test_shapes_and_near_uniform_initial_policy(dim, spatial):
    torch.manual_seed(0)
    head = VA3CHead(feature_channels=7, num_agents_channels=2, dim=dim, hidden=8)
    features, state = torch.randn((3, 7) + spatial), torch.rand((3, 2) + spatial)
    logits, value = head(features, state)
    assert logits.shape == (3, 2, 3) + spatial
    assert value.shape == (3, 2) + spatial
    probs = torch.softmax(logits, dim=2)
    assert (probs - 1 / 3).abs().max().item() < 0.01
    # forward is decide(embed(...)): the split first convolution is the same computation
    logits2, value2 = head.decide(head.embed(features), state)
    assert torch.equal(logits, logits2) and torch.equal(value, value2)


def test_state_dict_round_trip():
    torch.manual_seed(1)
    a, b = VA3CHead(4, 1, dim=3), VA3CHead(4, 1, dim=3)
    features, state = torch.randn(1, 4, 3, 3, 3), torch.rand(1, 1, 3, 3, 3)
    assert not torch.equal(a(features, state)[1], b(features, state)[1])
    b.load_state_dict(a.state_dict())
    for x, y in zip(a(features, state), b(features, state)):
        assert torch.equal(x, y)


def test_gradient_reaches_features_and_state_and_all_parameters():
    torch.manual_seed(2)
    head = VA3CHead(3, 2, dim=2)
    features = torch.randn(2, 3, 5, 5, requires_grad=True)
    state = torch.rand(2, 2, 5, 5, requires_grad=True)
    logits, value = head(features, state)
    (logits.square().sum() + value.square().sum()).backward()
    assert features.grad.abs().sum() > 0 and state.grad.abs().sum() > 0
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_autocast_and_errors():
    head = VA3CHead(3, 2, dim=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, value = head(torch.randn(1, 3, 4, 4), torch.rand(1, 2, 4, 4))
    assert logits.shape == (1, 2, 3, 4, 4) and torch.isfinite(logits.float()).all()
    with pytest.raises(ValueError, match="state shape"):
        head(torch.randn(1, 3, 4, 4), torch.rand(1, 1, 4, 4))
    with pytest.raises(ValueError, match="dim"):
        VA3CHead(3, 2, dim=1)
