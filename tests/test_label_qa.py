"""`nnunet-svl label-qa` on real nnU-Net outputs: 5 folds of stock nnUNetTrainer (tiny budget) trained with --npz on
the mt-corrupted phantoms, then the QA: ranking, maps in the label's geometry, confusion, AUROCs against the clean
labels, the ignore-label dataset (valid for nnU-Net, the given dataset untouched) and clear errors for what is
missing."""
from __future__ import annotations

import csv
import hashlib
import json

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import NARROW, NOISY_ID, noisy_dataset_dir
from nnunet_svl.runtime.errors import SVLInputError
from nnunet_svl.tools.label_qa import run_label_qa, write_ignore_dataset
from nnunet_svl.tools.pipeline import NNUNetWorkspace
from nnunet_svl.tools.raw_dataset import load_raw_dataset, validate_raw_dataset
from variant_datasets import REGIONS_QA_ID, REGIONS_QA_NOISY

TRAINER = "nnUNetTrainerBaseline_tiny"


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_label_qa_from_five_held_out_folds(nnunet_ws, tmp_path):
    ws = NNUNetWorkspace(root=tmp_path, env={**nnunet_ws.env, "nnUNet_results": str(tmp_path / "results")},
                         log_dir=tmp_path / "logs", quiet=True)
    ws.log_dir.mkdir()
    raw = noisy_dataset_dir(nnunet_ws)
    run_dir = ws.run_folder(raw.name, TRAINER, plans=NARROW)
    before = _digest(raw)

    # a missing fold is named with the command that makes it
    with pytest.raises(SVLInputError, match=r"fold_0.*--npz"):
        run_label_qa(run_dir, raw, tmp_path / "qa", progress=lambda *_: None)
    ws.train_folds(NOISY_ID, TRAINER, plans=NARROW, extra_args=["--npz"])
    npz = run_dir / "fold_3" / "validation"
    moved = tmp_path / "moved"
    moved.mkdir()
    for f in npz.glob("*.npz"):
        f.rename(moved / f.name)
    with pytest.raises(SVLInputError, match=r"--val --npz"):
        run_label_qa(run_dir, raw, tmp_path / "qa", progress=lambda *_: None)
    for f in moved.glob("*.npz"):
        f.rename(npz / f.name)

    out = tmp_path / "qa"
    summary = run_label_qa(run_dir, raw, out, clean_labels=raw / "labelsTr_clean", ignore_dataset_id=985,
                           n_overlays=2, progress=lambda *_: None)
    ds = load_raw_dataset(raw)
    rows = list(csv.DictReader(open(out / "label_qa.csv")))
    assert sorted(r["case"] for r in rows) == sorted(ds.training_cases)
    scores = [float(r["noise_score"]) for r in rows]
    assert all(0 <= s <= 1 for s in scores)
    # ranked by the image's verdict (edge absent, none, confirmed), then by score; the flags follow the same evidence
    verdicts = [{"edge absent": 0, "": 1, "confirmed": 2}[r["image"]] for r in rows]
    assert [(v, -s) for v, s in zip(verdicts, scores)] == sorted(zip(verdicts, [-s for s in scores]))
    evidence = summary["image_evidence"]
    assert evidence["off"] == "" and evidence["fitted"] == len(rows)
    assert {r["case"] for r in rows if r["image"] == "confirmed"} == set(evidence["confirmed"])
    assert set(evidence["edge_absent"]) <= set(summary["flagged"])
    assert not set(evidence["confirmed"]) & set(summary["flagged"])
    assert 0.0 <= summary["case_auroc_held_out_score"] <= 1.0
    assert 0.05 < summary["temperature"] < 20
    assert summary["flag_rule"] == {"k": 3.0, "margin": 0.25}       # the defaults, not a loop index
    for case in ds.training_cases:
        label = sitk.ReadImage(str(ds.label_path(case)))
        for kind in ("suspicion", "issues"):
            img = sitk.ReadImage(str(out / f"{case}_{kind}{ds.file_ending}"))
            assert img.GetSize() == label.GetSize() and img.GetDirection() == label.GetDirection()
            assert np.allclose(img.GetOrigin(), label.GetOrigin()) and np.allclose(img.GetSpacing(), label.GetSpacing())
        s = sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"{case}_suspicion{ds.file_ending}")))
        assert 0 <= s.min() and s.max() <= 1
    confusion = list(csv.DictReader(open(out / "confusion.csv")))
    total = sum(int(v) for r in confusion for k, v in r.items() if k != "given \\ held-out")
    assert total == sum(sitk.GetArrayFromImage(sitk.ReadImage(str(ds.label_path(c)))).size for c in ds.training_cases)
    noisy = {c for c, i in json.loads((raw / "noise_manifest.json").read_text())["cases"].items() if i["noisy"]}
    assert set(summary["noisy_cases"]) == noisy
    # the volume ratio column: the given label's volume over the held-out expected volume, from the npz itself
    top = rows[0]
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(ds.label_path(top["case"]))))
    with np.load(next(run_dir.glob(f"fold_*/validation/{top['case']}.npz"))) as z:
        expected = float(z["probabilities"][1].sum())
    assert float(top["volume_ratio_class_1"]) == pytest.approx(((label == 1).sum() + 1) / (expected + 1), rel=1e-3)
    for key in ("case_auroc", "voxel_auroc", "precision_at_k", "volume_ratio_case_auroc"):
        assert 0.0 <= summary[key] <= 1.0
    assert len(list((out / "overlays").glob("*.png"))) == 2

    # the ignore-label dataset: a new, valid nnU-Net raw dataset; label-issue voxels of flagged cases are ignored
    issues = {c: sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"{c}_issues{ds.file_ending}"))) > 0
              for c in ds.training_cases}
    with_issues = [c for c in ds.training_cases if issues[c].any()]
    assert with_issues, "the held-out predictions contradict no voxel: the fixture no longer tests the writer"
    ign = load_raw_dataset(summary["ignore_dataset"])    # written by run_label_qa for its own flags
    if not summary["flagged"]:
        # nothing flagged: no ignore label is added, so the new dataset trains exactly as the given one
        assert ign.ignore_label is None and ign.dataset_json["labels"] == ds.dataset_json["labels"]
        assert ign.dataset_json["svl_label_qa"]["ignored_voxels"] == 0
    flagged = with_issues[:2]
    ign = load_raw_dataset(write_ignore_dataset(ds, out, flagged, 986))
    validate_raw_dataset(ign, check_content=True)
    assert ign.ignore_label == 2 and ign.training_cases == ds.training_cases
    assert ign.dataset_json["svl_label_qa"]["ignored_voxels"] == sum(int(issues[c].sum()) for c in flagged)
    for case in ds.training_cases:
        new = sitk.GetArrayFromImage(sitk.ReadImage(str(ign.label_path(case))))
        old = sitk.GetArrayFromImage(sitk.ReadImage(str(ds.label_path(case))))
        expected = np.where(issues[case], 2, old) if case in flagged else old
        assert np.array_equal(new, expected)
    assert _digest(raw) == before     # the given dataset is untouched


def test_label_qa_on_a_region_based_dataset(variants_ws, tmp_path):
    """Regions (nnU-Net's sigmoid outputs, one channel per region): every region judged on its own, the case by its
    worst region. Two of five cases lost their core (2 → 1): wrong for the region "core", right for "whole"
    (Dataset976, tests/variant_datasets.py)."""
    ws = variants_ws
    raw = next(ws.raw.glob(f"Dataset{REGIONS_QA_ID}_*"))
    clean = raw / "labelsTr_clean"
    ds = load_raw_dataset(raw)
    noisy = ds.training_cases[:REGIONS_QA_NOISY]
    for case in noisy:
        assert (sitk.GetArrayFromImage(sitk.ReadImage(str(clean / f"{case}{ds.file_ending}"))) == 2).any()
        assert not (sitk.GetArrayFromImage(sitk.ReadImage(str(ds.label_path(case)))) == 2).any()
    ws.train_folds(REGIONS_QA_ID, TRAINER, plans=NARROW, extra_args=["--npz"])
    run_dir = ws.run_folder(raw.name, TRAINER, plans=NARROW)
    with np.load(next((run_dir / "fold_0" / "validation").glob("*.npz"))) as z:
        assert z["probabilities"].shape[0] == 2      # nnU-Net wrote one sigmoid channel per region, no background

    out = tmp_path / "qa"
    summary = run_label_qa(run_dir, raw, out, clean_labels=clean, n_overlays=1, progress=lambda *_: None)
    assert summary["regions"] == ["whole", "core"]
    assert summary["image_evidence"] == {"off": "region-based labels", "fitted": 0, "confirmed": [], "edge_absent": []}
    assert summary["flag_rule"] == {"k": 3.0, "margin": 0.25}
    assert set(summary["temperature"]) == {"whole", "core"}
    assert all(0.05 < t < 20 for t in summary["temperature"].values())
    assert all(len(t) == 2 for t in summary["class_thresholds"].values())
    assert set(summary["noisy_cases"]) == set(noisy)
    assert 0.0 <= summary["case_auroc"] <= 1.0 and 0.0 <= summary["voxel_auroc"] <= 1.0
    rows = list(csv.DictReader(open(out / "label_qa.csv")))
    assert sorted(r["case"] for r in rows) == sorted(ds.training_cases)
    assert {"dice_whole", "dice_core", "volume_ratio_whole", "volume_ratio_core"} <= set(rows[0])
    assert "image" not in rows[0]                    # no edge columns where the image evidence is off
    for r in rows:      # the case's score is its worst region's
        dice = [float(r[k]) for k in ("dice_whole", "dice_core") if r[k] != ""]
        assert float(r["noise_score"]) == pytest.approx(1 - min(dice), abs=1e-3)
    voxels = sum(sitk.GetArrayFromImage(sitk.ReadImage(str(ds.label_path(c)))).size for c in ds.training_cases)
    confusion = list(csv.DictReader(open(out / "confusion.csv")))
    assert [r["given \\ held-out"] for r in confusion] == ["whole: outside", "whole: inside", "core: outside",
                                                            "core: inside"]
    for region in ("whole", "core"):
        assert sum(int(r["outside"]) + int(r["inside"]) for r in confusion if r["given \\ held-out"].startswith(
            region)) == voxels
    for case in ds.training_cases:
        s = sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"{case}_suspicion{ds.file_ending}")))
        assert s.shape == sitk.GetArrayFromImage(sitk.ReadImage(str(ds.label_path(case)))).shape
        assert 0 <= s.min() and s.max() <= 1
