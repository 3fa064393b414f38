"""A gated correction round on corrupted phantoms, measured against their clean labels (issue 14, item 10).

The real label-round engine, teacher gate, vA3C part and label store run two rounds over 12 phantoms of which `corrupt
mt` over- or under-drew 6. The network is replaced by a *teacher that learned the clean boundary*: its probabilities
are the clean label, one-hot, blurred by a Gaussian of σ = 1 voxel (confident inside and outside, unsure within about
a voxel of the clean boundary). With the default (flagged cases excluded) the vA3C head is not consulted; with
``_SampleFlagged``'s sampling 0.5 it is, and its output layer is zeroed (every agent keeps its belief), so the refined
belief is the teacher's. Nothing reads the clean labels except this test's assertions: the gate decides its flags by
its own rule (teacher/case_flags.py) and the flips are the gate's (rl/part.py:gated_flips).

What must hold: the first round flags only corrupted cases and flips nothing (flags are decided at its end); the second
flips voxels in flagged cases only, every flipped voxel moves to the clean label, each flagged case ends closer to its
clean label than its given one, the clean cases' labels are stored unchanged, and the store commits both rounds.
"""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from scipy.ndimage import gaussian_filter
from torch import nn

from nnunet_svl.parts.base import LabelSpace
from nnunet_svl.parts.label_round import LabelRoundEngine
from nnunet_svl.rl.part import VA3CPart
from nnunet_svl.runtime.config import SVLConfig
from nnunet_svl.runtime.label_store import LabelStore
from nnunet_svl.teacher.part import TeacherGatePart
from nnunet_svl.tools.corrupt import corrupt_dataset
from nnunet_svl.tools.demo_data import write_demo_dataset

SPACE = LabelSpace(foreground_labels=(1,), ignore_label=None, has_regions=False, num_heads=2)
FEATURES = 4


def _read(path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path))).astype(np.int16)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return 2.0 * (a & b).sum() / max(a.sum() + b.sum(), 1)


@pytest.mark.parametrize("flagged_case_sampling", [0.0, 0.5])
def test_gated_round_moves_flagged_labels_towards_the_clean_ones_and_leaves_clean_cases(tmp_path,
                                                                                       flagged_case_sampling):
    src = write_demo_dataset(tmp_path, dataset_id=970, name="GateFixture", n_train=12, n_test=1, shape=(32, 32, 32),
                             seed=3)
    noisy = corrupt_dataset(src, target_id=971, protocol="mt", ratio=0.5, seed=3, raw_root=tmp_path)
    manifest = json.loads((noisy / "noise_manifest.json").read_text())["cases"]
    cases = sorted(manifest)
    given = {c: _read(noisy / "labelsTr" / f"{c}.nii.gz") for c in cases}
    clean = {c: _read(noisy / "labelsTr_clean" / f"{c}.nii.gz") for c in cases}
    corrupted = {c for c in cases if manifest[c]["noisy"]}
    assert len(corrupted) == 6 and all(not np.array_equal(given[c], clean[c]) for c in corrupted)

    cfg = replace(SVLConfig(), use_rl=True, warmup_end=1, transition_end=2, correction_every=1, gate_start=0,
                  flagged_case_sampling=flagged_case_sampling)
    gate = TeacherGatePart(cfg, SPACE, 10, nn.Conv3d(1, 2, 1))
    gate.round_network_is_teacher = True
    va3c = VA3CPart(cfg, SPACE, 10, FEATURES, dim=3, num_input_channels=1, device=torch.device("cpu"))
    va3c.batch_filter = gate.touches
    head = va3c.build_modules()["va3c_head"]
    nn.init.zeros_(head.out.weight)
    nn.init.zeros_(head.out.bias)                       # equal action logits: argmax = keep
    store = LabelStore(tmp_path / "store")
    engine = LabelRoundEngine([gate, va3c], store, SPACE)

    teacher_fg = {c: gaussian_filter((clean[c] > 0).astype(np.float32), sigma=1.0) for c in cases}
    current = {}

    def load_case(case):
        current["case"] = case
        stored = store.load(case)
        return np.zeros((1, *given[case].shape), np.float32), (stored.label if stored is not None
                                                                else given[case][None]), None

    def forward(x):
        fg = torch.as_tensor(teacher_fg[current["case"]])[None, None].clamp(1e-4, 1 - 1e-4)
        return torch.log(torch.cat([1 - fg, fg], 1)), torch.zeros(1, FEATURES, *fg.shape[2:])

    def infer(data, patch_fn):
        return {k: v[0].numpy() for k, v in patch_fn(torch.as_tensor(data)[None]).items()}

    def references(case):
        return {"given": given[case][None]}

    # round 1 (epoch 2, full RL): no flags yet, so nothing flips; the flags are decided at its end
    plan = engine.plan(2)
    assert plan is not None
    _, totals = engine.run(plan, cases, load_case, infer, forward, references=references)
    assert totals.get("flipped", 0) == 0
    flagged = set(gate.flagged)
    assert flagged and flagged <= corrupted, (flagged, corrupted)

    # round 2 (epoch 3): a correction round; flips only in the flagged cases, each one to the clean label
    plan = engine.plan(3)
    assert plan.correct
    _, totals = engine.run(plan, cases, load_case, infer, forward, references=references)
    assert totals["flipped"] > 0
    assert store.current_round == 2 and [h["kind"] for h in store.history()][-1] == "correction"
    flipped = 0
    for c in cases:
        final = store.load(c).label[0]
        changed = final != given[c]
        if c not in flagged:
            assert not changed.any(), c
            continue
        flipped += int(changed.sum())
        assert np.array_equal(final[changed], clean[c][changed]), c
        assert _dice(final, clean[c]) > _dice(given[c], clean[c]) + 0.05, (c, _dice(final, clean[c]),
                                                                          _dice(given[c], clean[c]))
    assert flipped == totals["flipped"]
