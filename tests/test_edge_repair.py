"""The edge repair as a label-round part (nnunet_svl/edge/part.py): by hand on a sphere, and inside the real trainer
(``nnUNetTrainerSVLDRL_EdgeRepair_tiny`` on phantoms whose labels nnU-Net preprocessed after a dilation): the label
store's initial round holds each case's label moved to its image edge where the fit says so and the annotation bit for
bit elsewhere, the data loader serves it, and the teacher gate's rounds start from it."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from conftest import NARROW, use_in_process
from nnunet_svl.edge.boundary import fit_edge, repair_label, repair_to_edge
from nnunet_svl.edge.part import EdgeRepairPart
from nnunet_svl.parts.base import CaseRound, LabelSpace, RoundPlan
from nnunet_svl.runtime.config import SVLConfig
from variant_datasets import DILATED_ID

BINARY = LabelSpace(foreground_labels=(1,), ignore_label=None, has_regions=False, num_heads=2)


def _sphere(grow: float):
    g = np.indices((40, 40, 40)).astype(float) + 0.5
    r = np.sqrt(((g - 20.0) ** 2).sum(0))
    image = 100.0 + 20.0 * ndimage.gaussian_filter((r < 9.0).astype(float), 1.2)
    image += 5.0 * np.random.default_rng(0).standard_normal(image.shape)
    return image[None].astype(np.float32), (r < 9.0 + grow).astype(np.int16)[None]


def test_the_part_repairs_before_training_and_hands_the_repair_to_later_rounds():
    part = EdgeRepairPart(SVLConfig(edge_repair=True), BINARY)
    logs = []
    part.log = logs.append
    data, label = _sphere(3.0)
    case = CaseRound(case="a", label=label, maps={}, data=data)
    part.initial_case(case)
    fit = part.fits["a"]
    assert fit.reliable and abs(fit.offset - 3.0) <= 0.5
    expected = repair_label(label[0], fit_edge(data, label[0] > 0), SVLConfig().edge_tolerance)
    assert np.array_equal(case.label[0], expected) and case.label.dtype == label.dtype
    assert (case.label != label).sum() > 1000 and "edge offset +" in logs[0]
    # a later round: the given label the teacher gate reads is the repaired one (the fit is cached, data not needed)
    later = CaseRound(case="a", label=case.label, maps={}, reference={"given": label.copy()})
    assert part.update_case(RoundPlan(epoch=3), later) == {"edge_repaired": 1}
    assert np.array_equal(later.reference["given"], case.label)
    # a label on its edge: the very same array, in the initial round and later
    data0, label0 = _sphere(0.0)
    clean = CaseRound(case="b", label=label0, maps={}, data=data0)
    part.initial_case(clean)
    assert clean.label is label0 and part.fits["b"].offset <= SVLConfig().edge_tolerance
    ref = {"given": label0}
    assert part.update_case(RoundPlan(epoch=3), CaseRound(case="b", label=label0, maps={}, reference=ref)) == \
        {"edge_repaired": 0} and ref["given"] is label0
    # which cases the run judged over-drawn (the diagnostics' "found noisy"): the moved one, not the clean one
    assert part.moves("a") is True and part.moves("b") is False and part.moves("never seen") is None
    # a case never fitted, without its image: an error that says so, not the annotation passed on silently
    with pytest.raises(ValueError, match="no fit and no image"):
        part.update_case(RoundPlan(epoch=3), CaseRound(case="c", label=label, maps={}, reference={"given": label}))
    # the fits survive a checkpoint
    restored = EdgeRepairPart(SVLConfig(edge_repair=True), BINARY)
    restored.load_state_dict(part.state_dict())
    assert restored.fits == part.fits


def test_with_refit_steps_the_part_moves_again_and_replays_without_the_image():
    from nnunet_svl.edge.boundary import repair_to_edge
    from nnunet_svl.tools.demo_data import make_phantom
    from nnunet_svl.tools.noise import dilate

    image, clean = make_phantom(np.random.default_rng(0), (40, 40, 40))
    given = dilate(clean == 1, 9).astype(np.int16)[None]
    cfg = SVLConfig(edge_repair=True, edge_repair_steps=3)
    part = EdgeRepairPart(cfg, BINARY)
    part.log = lambda line: None
    case = CaseRound(case="a", label=given, maps={}, data=image[None])
    part.initial_case(case)
    expected, fits = repair_to_edge(image[None], given[0], cfg.edge_tolerance, 3)
    assert len(fits) == 3 and part.fits["a"] == fits[0] and part.refits["a"] == fits[1:]
    assert np.array_equal(case.label[0], expected) and part.moves("a") is True
    # a resumed run: the fits from the checkpoint alone give the same repaired label (no image passed)
    restored = EdgeRepairPart(cfg, BINARY)
    restored.load_state_dict(part.state_dict())
    ref = {"given": given}
    assert restored.update_case(RoundPlan(epoch=3), CaseRound(case="a", label=given, maps={}, reference=ref)) == \
        {"edge_repaired": 1}
    assert np.array_equal(ref["given"], case.label)
    # later rounds apply the moved voxels the first call kept (no distance transform): the same label, a new array
    # each round (a round may not write into another's), the annotation untouched
    first = part.repaired("a", None, given)
    again = part.repaired("a", None, given)
    assert np.array_equal(first, case.label) and np.array_equal(again, case.label) and first is not again
    assert first.dtype == given.dtype and np.array_equal(given[0], dilate(clean == 1, 9))
    # a checkpoint of a one-step run (no refits saved) still loads
    old = {"edge_fits": part.state_dict()["edge_fits"]}
    restored.load_state_dict(old)
    assert restored.refits == {} and restored.fits == part.fits


def _sphere_at(grow: float, contrast: float, seed: int):
    g = np.indices((40, 40, 40)).astype(float) + 0.5
    r = np.sqrt(((g - 20.0) ** 2).sum(0))
    image = 100.0 + contrast * ndimage.gaussian_filter((r < 9.0).astype(float), 1.2)
    image += 5.0 * np.random.default_rng(seed).standard_normal(image.shape)
    return image[None].astype(np.float32), (r < 9.0 + grow).astype(np.int16)[None]


@pytest.mark.parametrize("ratio", [2.0, 0.0])
def test_a_label_is_moved_only_where_its_step_is_twice_the_on_edge_labels(ratio):
    """Four labels on their edge (step t 34-38, median 35.9), one drawn 3 voxels past a strong edge (t 125: the whole
    step) and one 2 voxels past a faint edge (t 31, offset +1.5: trusted and beyond the tolerance, yet a step no
    stronger than an on-edge label's). The dataset's reference, gathered before the initial round, keeps the faint
    one in place; with ``edge_step_ratio`` 0 (``_EdgeAnyStep``) the offset alone moves both."""
    cases = {f"on{s}": _sphere_at(0.0, 20.0, s) for s in range(4)}
    cases["strong"] = _sphere_at(3.0, 20.0, 4)
    cases["faint"] = _sphere_at(2.0, 6.0, 5)
    gathered = []
    part = EdgeRepairPart(SVLConfig(edge_repair=True, edge_step_ratio=ratio), BINARY,
                          gather=lambda items: gathered.append(items) or [items])
    logs = []
    part.log = logs.append
    part.prepare_initial(list(cases), lambda c: (cases[c][0], cases[c][1], None))
    if ratio == 0:
        assert gathered == [] and np.isnan(part.step_reference)
    else:
        assert sorted(c for c, _ in gathered[0]) == sorted(cases)           # every case of this rank, gathered once
        assert part.step_reference == pytest.approx(np.median([f[1] for c, f in gathered[0] if c.startswith("on")]))
        assert 34.0 < part.step_reference < 38.5 and "4 of 6 labels lie on their image's edge" in logs[0]
    out = {}
    for c, (data, label) in cases.items():
        case = CaseRound(case=c, label=label, maps={}, data=data)
        part.initial_case(case)
        out[c] = case.label is not label
    assert out == {"on0": False, "on1": False, "on2": False, "on3": False, "strong": True, "faint": ratio == 0}
    assert part.fits["faint"].moves(SVLConfig().edge_tolerance)               # the offset alone would move it
    assert part.moves("faint") is (ratio == 0) and part.moves("strong") is True
    # the reference is kept in the checkpoint: a resumed run judges the same (and replays without the image)
    restored = EdgeRepairPart(SVLConfig(edge_repair=True, edge_step_ratio=ratio), BINARY)
    restored.load_state_dict(part.state_dict())
    assert restored.moves("faint") is (ratio == 0)
    ref = {"given": cases["faint"][1]}
    restored.update_case(RoundPlan(epoch=3), CaseRound(case="faint", label=cases["faint"][1], maps={}, reference=ref))
    assert (ref["given"] is cases["faint"][1]) is (ratio != 0)


def test_two_foreground_classes_are_left_alone_with_a_note():
    part = EdgeRepairPart(SVLConfig(edge_repair=True),
                          LabelSpace(foreground_labels=(1, 2), ignore_label=None, has_regions=False, num_heads=3))
    logs = []
    part.log = logs.append
    data, label = _sphere(3.0)
    case = CaseRound(case="a", label=label, maps={}, data=data)
    part.initial_case(case)
    assert case.label is label and not part.fits and "2 foreground classes" in logs[0]


@pytest.fixture
def dilated_env(variants_ws, tmp_path, monkeypatch):
    """Dataset985: 6 phantoms of 40³, 3 of them dilated (tests/variant_datasets.py), with this test's own results."""
    ws = variants_ws
    use_in_process(ws, monkeypatch)
    results = tmp_path / "results"
    results.mkdir()
    monkeypatch.setenv("nnUNet_results", str(results))
    return ws


def test_the_trainer_trains_on_the_repaired_labels(dilated_env):
    import json

    from nnunetv2.run.run_training import get_trainer_from_args

    from nnunet_svl.teacher.part import TeacherGatePart

    # fold 'all': the 6 cases, 3 of them dilated (offline: 2 of those lie more than a voxel outside their edge)
    trainer = get_trainer_from_args(str(DILATED_ID), "3d_fullres", "all", "nnUNetTrainerSVLDRL_EdgeRepair_tiny",
                                    NARROW, device=torch.device("cpu"))
    trainer.on_train_start()
    try:
        edge = trainer.part(EdgeRepairPart)
        assert trainer.parts[0] is edge and trainer.part(TeacherGatePart) is trainer.parts[1]
        assert trainer.label_store.history()[0]["kind"] == "edge_repair"
        raw = next(dilated_env.raw.glob(f"Dataset{DILATED_ID}_*"))
        noisy = {c for c, v in json.loads((raw / "noise_manifest.json").read_text())["cases"].items() if v["noisy"]}
        moved = set()
        for case in trainer.training_case_ids():
            data, given = trainer.preprocessed_case(case)
            expected, _ = repair_to_edge(data, given[0], trainer.cfg.edge_tolerance, trainer.cfg.edge_repair_steps,
                                         spacing=trainer.configuration_manager.spacing)
            stored = trainer.label_store.load(case).label
            assert np.array_equal(stored[0], expected), case
            if not np.array_equal(stored, given):
                moved.add(case)
                assert stored.sum() < given.sum()                   # only ever shrinks
        assert moved and moved <= noisy and len(noisy) == 3          # over-drawn cases moved, no clean one
        # the training dataset (the data loader's) serves the store's label: the repaired one
        dataset_tr, _ = trainer.get_tr_and_val_datasets()
        for case in moved:
            _, served, _, _ = dataset_tr.load_case(case)
            assert np.array_equal(np.asarray(served[:1]), trainer.label_store.load(case).label), case
        # a label round: the gate re-derives every case from the repaired given label
        trainer.current_epoch = trainer.num_epochs - 1           # the tiny schedule has a round at every epoch
        summary = trainer.run_label_round()
        assert summary is not None and summary["edge_repaired"] == len(moved)
        batch = next(trainer.dataloader_train)
        assert np.isfinite(trainer.train_step(batch)["loss"]).all()
    finally:
        trainer.on_train_end()
