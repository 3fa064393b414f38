"""A label round's whole-case inference, several tiles per network call (config ``round_tile_batch``): the same maps
as one tile at a time, the cases grouped as documented, every case still updated and staged on its own."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from nnunet_svl.parts.base import CaseRound, LabelSpace, MethodPart, RoundPlan
from nnunet_svl.parts.label_round import LabelRoundEngine
from nnunet_svl.runtime.label_store import LabelStore
from nnunet_svl.trainers.case_inference import sliding_window_maps, sliding_window_maps_many

SPACE = LabelSpace(foreground_labels=(1,), ignore_label=None, has_regions=False, num_heads=2)


def _conv_fn(dim: int):
    """A fixed convolution: a patch's output does not depend on the other patches of its batch."""
    torch.manual_seed(0)
    conv = (torch.nn.Conv3d if dim == 3 else torch.nn.Conv2d)(1, 2, 3, padding=1)
    calls = []

    def fn(x):
        calls.append(x.shape[0])
        with torch.no_grad():
            out = conv(x)
        return {"a": out, "b": out[:, :1] * 2}

    return fn, calls


def test_batched_tiles_give_the_one_tile_maps_3d_and_2d():
    rng = np.random.default_rng(0)
    cases = [rng.normal(size=(1, 6, 6, 6)).astype(np.float32),      # smaller than the patch: padded, one tile
             rng.normal(size=(1, 8, 8, 8)).astype(np.float32),      # exactly one tile
             rng.normal(size=(1, 13, 9, 11)).astype(np.float32)]    # several tiles (steps of 4 → 3·2·2 = 12)
    fn, calls = _conv_fn(3)
    one = [sliding_window_maps(c, (8, 8, 8), fn, torch.device("cpu")) for c in cases]
    assert calls == [1] * (1 + 1 + 12)
    calls.clear()
    many = sliding_window_maps_many(cases, (8, 8, 8), fn, torch.device("cpu"), tile_batch=4)
    assert calls == [4, 4, 4, 2]                         # 14 tiles, 4 per call, across the cases' borders
    for o, m, c in zip(one, many, cases):
        assert set(m) == {"a", "b"} and m["a"].shape == (2, *c.shape[1:]) and m["b"].shape == (1, *c.shape[1:])
        np.testing.assert_allclose(m["a"], o["a"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(m["b"], o["b"], rtol=1e-5, atol=1e-6)
    # 2-D configuration: every slice along the first axis is blended on its own; tiles batched across slices
    fn2, calls2 = _conv_fn(2)
    vol = rng.normal(size=(1, 3, 10, 7)).astype(np.float32)
    ref = sliding_window_maps(vol, (8, 8), fn2, torch.device("cpu"))
    calls2.clear()
    got = sliding_window_maps_many([vol], (8, 8), fn2, torch.device("cpu"), tile_batch=3)[0]
    assert calls2 == [3, 3]                              # 3 slices × 2 tiles each
    assert got["a"].shape == (2, 3, 10, 7)
    np.testing.assert_allclose(got["a"], ref["a"], rtol=1e-5, atol=1e-6)


class _Seen(MethodPart):
    """Records the cases it updates (in order) and the maps it was given; wants its patch maps in case 'c' only."""

    def __init__(self):
        super().__init__()
        self.order: list[str] = []
        self.probs: dict[str, np.ndarray] = {}

    def round_due(self, epoch: int) -> Optional[bool]:
        return True

    def wants_patch_maps(self, plan: RoundPlan, case: str) -> bool:
        return case == "c"

    def patch_maps(self, plan, x, logits, features):
        return {"extra": x}

    def update_case(self, plan: RoundPlan, case: CaseRound) -> dict:
        self.order.append(case.case)
        self.probs[case.case] = case.maps["probs"]
        assert ("extra" in case.maps) == (case.case == "c")
        return {"seen": 1}


def test_engine_groups_small_cases_by_budget_and_wanted_maps(tmp_path):
    rng = np.random.default_rng(1)
    names = ["a", "b", "c", "d", "e", "f"]
    data = {n: rng.normal(size=(1, 4, 4, 4)).astype(np.float32) for n in names}
    label = np.zeros((1, 4, 4, 4), np.int16)
    loads: list[str] = []

    def load_case(case):
        loads.append(case)
        return data[case], label, None

    def forward(x):
        return torch.cat([-x, x], dim=1), x

    groups: list[int] = []

    def infer_many(datas, patch_fn):
        groups.append(len(datas))
        return sliding_window_maps_many(datas, (4, 4, 4), patch_fn, torch.device("cpu"), tile_batch=8)

    def infer(arr, patch_fn):
        return sliding_window_maps(arr, (4, 4, 4), patch_fn, torch.device("cpu"))

    def run(store_dir, **grouping):
        part = _Seen()
        engine = LabelRoundEngine([part], LabelStore(tmp_path / store_dir), SPACE)
        _, totals = engine.run(engine.plan(0), names, load_case, infer, forward, **grouping)
        return part, totals

    alone, totals = run("one")
    assert totals["seen"] == 6 and groups == [] and loads == names
    loads.clear()
    # budget 2 cases of 64 voxels: [a b] then 'c' alone (it wants other maps), [d e], [f]; each case loaded once
    grouped, totals = run("grouped", infer_many=infer_many, group_voxels=128)
    assert groups == [2, 1, 2, 1] and loads == names and totals["seen"] == 6
    assert grouped.order == names
    for n in names:
        np.testing.assert_allclose(grouped.probs[n], alone.probs[n], rtol=1e-5, atol=1e-6)
    # a budget smaller than one case: every case alone
    groups.clear()
    run("small", infer_many=infer_many, group_voxels=10)
    assert groups == [1] * 6
