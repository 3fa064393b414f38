"""``evaluate_folders`` on tiny NIfTI label maps written with SimpleITK, numbers worked out by hand."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from nnunet_svl.runtime.errors import SVLInputError
from nnunet_svl.tools.evaluate import case_means, evaluate_folders, format_table, write_results_json
from nnunet_svl.tools.metrics import binary_metrics

SPACING_XYZ = (0.5, 1.0, 2.0)  # numpy (z, y, x) axes get spacing (2.0, 1.0, 0.5)
ORIGIN = (10.0, -5.0, 3.0)
DIRECTION = (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)
SHAPE = (16, 16, 16)


def _write(path: Path, array: np.ndarray, spacing=SPACING_XYZ, origin=ORIGIN, direction=DIRECTION) -> Path:
    image = sitk.GetImageFromArray(array.astype(np.uint8))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(direction)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))
    return path


def _label_map(*boxes: tuple[int, tuple[int, int, int], tuple[int, int, int]]) -> np.ndarray:
    out = np.zeros(SHAPE, dtype=np.uint8)
    for value, lo, hi in boxes:
        out[tuple(slice(a, b) for a, b in zip(lo, hi))] = value
    return out


CUBE = (1, (2, 2, 2), (12, 12, 12))
CUBE_SHIFTED = (1, (4, 2, 2), (14, 12, 12))  # 2 voxels along numpy axis 0 (2.0 mm)
SMALL = (2, (13, 13, 13), (15, 15, 15))


@pytest.fixture
def folders(tmp_path):
    """case_a: class 1 shifted, class 2 exact; case_b: class 1 exact, class 2 predicted but absent in the reference."""
    ref, pred = tmp_path / "ref", tmp_path / "pred"
    _write(ref / "case_a.nii.gz", _label_map(CUBE, SMALL))
    _write(pred / "case_a.nii.gz", _label_map(CUBE_SHIFTED, SMALL))
    _write(ref / "case_b.nii.gz", _label_map(CUBE))
    _write(pred / "case_b.nii.gz", _label_map(CUBE, SMALL))
    dataset_json = tmp_path / "dataset.json"
    dataset_json.write_text(json.dumps({"labels": {"background": 0, "liver": 1, "tumor": 2}, "file_ending": ".nii.gz"}))
    return pred, ref, dataset_json


def test_numbers_per_case_per_class_and_mean(folders):
    pred, ref, dataset_json = folders
    r = evaluate_folders(pred, ref, dataset_json=dataset_json)
    a_liver = r["per_case"]["case_a"]["liver"]
    # Dice 2·800/2000 = 0.8, IoU 800/1200; shift 2 voxels along the 2.0 mm axis: HD95 = 4 mm (0.5 mm axis would give 1)
    assert a_liver["dice"] == pytest.approx(0.8)
    assert a_liver["iou"] == pytest.approx(2 / 3)
    assert a_liver["hd95"] == pytest.approx(4.0)
    assert r["per_case"]["case_a"]["tumor"] == {"dice": 1.0, "iou": 1.0, "hd95": 0.0, "assd": 0.0}
    b_tumor = r["per_case"]["case_b"]["tumor"]
    assert b_tumor["dice"] == 0.0 and math.isnan(b_tumor["hd95"]) and math.isnan(b_tumor["assd"])

    # liver Dice over cases 0.8, 1.0: mean 0.9, population sd 0.1; tumor Dice 1.0, 0.0: mean 0.5, sd 0.5
    assert r["per_class"]["liver"]["dice"] == pytest.approx({"mean": 0.9, "sd": 0.1, "n": 2, "n_undefined": 0})
    assert r["per_class"]["tumor"]["dice"] == pytest.approx({"mean": 0.5, "sd": 0.5, "n": 2, "n_undefined": 0})
    # tumor HD95: 0 in case_a, undefined in case_b → mean 0 over n = 1, one undefined
    assert r["per_class"]["tumor"]["hd95"] == pytest.approx({"mean": 0.0, "sd": 0.0, "n": 1, "n_undefined": 1})
    # mean over classes of the per-class means: Dice (0.9 + 0.5)/2 = 0.7; HD95 (4/2 + 0)/2 = 1.0
    assert r["mean"]["dice"] == pytest.approx(0.7)
    assert r["mean"]["hd95"] == pytest.approx(1.0)
    assert r["spacing_units"] == "mm" and "exactly one empty" in r["conventions"]
    assert r["n_cases"] == 2 and r["warnings"] == []


def test_labels_argument_and_labels_found_in_references(folders):
    pred, ref, dataset_json = folders
    named = evaluate_folders(pred, ref, labels={"background": 0, "liver": 1})
    assert list(named["per_class"]) == ["liver"]
    found = evaluate_folders(pred, ref)  # references hold values 1 and 2
    assert list(found["per_class"]) == ["1", "2"]
    assert found["per_case"]["case_a"]["1"] == pytest.approx(named["per_case"]["case_a"]["liver"])


def test_region_is_the_union_of_its_labels(tmp_path):
    ref_map = _label_map(CUBE, SMALL)
    pred_map = ref_map.copy()
    pred_map[pred_map == 2] = 1  # right region, wrong label inside it
    _write(tmp_path / "ref" / "c.nii.gz", ref_map)
    _write(tmp_path / "pred" / "c.nii.gz", pred_map)
    ds = tmp_path / "dataset.json"
    ds.write_text(json.dumps({"labels": {"background": [0], "whole": [1, 2], "core": 2}}))
    r = evaluate_folders(tmp_path / "pred", tmp_path / "ref", dataset_json=ds)
    assert r["per_case"]["c"]["whole"]["dice"] == 1.0
    assert r["per_case"]["c"]["core"]["dice"] == 0.0
    assert r["classes"] == {"whole": [1, 2], "core": [2]}


def test_missing_prediction_names_the_file(folders):
    pred, ref, dataset_json = folders
    (pred / "case_b.nii.gz").unlink()
    with pytest.raises(SVLInputError, match=r"case_b\.nii\.gz.*Fix: predict every case") as e:
        evaluate_folders(pred, ref, dataset_json=dataset_json)
    assert e.value.path == str(pred / "case_b.nii.gz")


def test_extra_prediction_is_ignored_with_a_warning(folders):
    pred, ref, dataset_json = folders
    _write(pred / "case_z.nii.gz", _label_map(CUBE))
    r = evaluate_folders(pred, ref, dataset_json=dataset_json)
    assert set(r["per_case"]) == {"case_a", "case_b"}
    assert len(r["warnings"]) == 1 and "case_z.nii.gz" in r["warnings"][0]
    assert "warning:" in format_table(r) and "case_z" in format_table(r)


@pytest.mark.parametrize("geometry, key", [({"origin": (10.0, -5.0, 3.01)}, "origin"),
                                           ({"spacing": (0.5, 1.0, 2.5)}, "spacing"),
                                           ({"direction": (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0)}, "direction")])
def test_geometry_mismatch_names_the_prediction(folders, geometry, key):
    pred, ref, dataset_json = folders
    _write(pred / "case_b.nii.gz", _label_map(CUBE), **geometry)
    with pytest.raises(SVLInputError, match=key) as e:
        evaluate_folders(pred, ref, dataset_json=dataset_json)
    assert e.value.path == str(pred / "case_b.nii.gz")
    assert "case_b.nii.gz" in str(e.value)


def test_shape_mismatch_and_tolerance(folders):
    pred, ref, dataset_json = folders
    _write(pred / "case_b.nii.gz", _label_map(CUBE), origin=(10.0 + 5e-5, -5.0, 3.0))  # within 1e-4: accepted
    evaluate_folders(pred, ref, dataset_json=dataset_json)
    _write(pred / "case_b.nii.gz", _label_map(CUBE)[:, :, :15])
    with pytest.raises(SVLInputError, match="shape"):
        evaluate_folders(pred, ref, dataset_json=dataset_json)


def test_ignore_label_voxels_are_excluded(tmp_path):
    ref_map = _label_map(CUBE)
    ref_map[12:15, 2:12, 2:12] = 3  # unannotated band next to the cube
    pred_map = _label_map((1, (2, 2, 2), (15, 12, 12)))  # the cube plus that band
    _write(tmp_path / "ref" / "c.nii.gz", ref_map)
    _write(tmp_path / "pred" / "c.nii.gz", pred_map)
    ds = tmp_path / "dataset.json"
    ds.write_text(json.dumps({"labels": {"background": 0, "organ": 1, "ignore": 3}}))
    with_ignore = evaluate_folders(tmp_path / "pred", tmp_path / "ref", dataset_json=ds)
    assert with_ignore["ignore_label"] == 3 and list(with_ignore["per_class"]) == ["organ"]
    assert with_ignore["per_case"]["c"]["organ"] == {"dice": 1.0, "iou": 1.0, "hd95": 0.0, "assd": 0.0}
    counted = evaluate_folders(tmp_path / "pred", tmp_path / "ref", labels={"organ": 1})
    # without the ignore label the band is false positive: Dice = 2·1000/(1300 + 1000)
    assert counted["per_case"]["c"]["organ"]["dice"] == pytest.approx(2000 / 2300)
    explicit = evaluate_folders(tmp_path / "pred", tmp_path / "ref", labels={"organ": 1}, ignore_label=3)
    assert explicit["per_case"]["c"]["organ"]["dice"] == 1.0


def test_single_slice_volume_is_evaluated_in_2d(tmp_path):
    ref2d = np.zeros((20, 20), dtype=np.uint8)
    ref2d[5:15, 5:15] = 1
    pred2d = np.roll(ref2d, 3, axis=1)
    _write(tmp_path / "ref" / "c.nii.gz", ref2d[None])
    _write(tmp_path / "pred" / "c.nii.gz", pred2d[None])
    r = evaluate_folders(tmp_path / "pred", tmp_path / "ref", labels={"fg": 1})
    # numpy axes (y, x) have spacing (1.0, 0.5): HD95 = 3 · 0.5 = 1.5 mm, as for the 2-D masks themselves
    expected = binary_metrics(pred2d == 1, ref2d == 1, (1.0, 0.5))
    assert r["per_case"]["c"]["fg"] == pytest.approx(expected)
    assert expected["hd95"] == pytest.approx(1.5)


def test_bad_inputs_name_the_file(tmp_path, folders):
    pred, ref, dataset_json = folders
    with pytest.raises(SVLInputError, match="file-ending"):
        evaluate_folders(pred, ref, file_ending=".nrrd")
    with pytest.raises(SVLInputError, match="does not exist"):
        evaluate_folders(tmp_path / "nope", ref)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text(json.dumps({"labels": {"background": 0, "liver": "one"}}))
    with pytest.raises(SVLInputError, match="liver") as e:
        evaluate_folders(pred, ref, dataset_json=bad_json)
    assert e.value.path == str(bad_json)
    (pred / "case_a.nii.gz").write_bytes(b"not an image")
    with pytest.raises(SVLInputError, match="cannot be read") as e:
        evaluate_folders(pred, ref, dataset_json=dataset_json)
    assert e.value.path == str(pred / "case_a.nii.gz")


def test_results_json_writes_nan_as_null(tmp_path, folders):
    pred, ref, dataset_json = folders
    r = evaluate_folders(pred, ref, dataset_json=dataset_json)
    out = tmp_path / "out" / "svl_evaluation.json"
    write_results_json(r, out)

    def reject(constant):
        raise AssertionError(f"{constant} written to JSON")

    loaded = json.loads(out.read_text(), parse_constant=reject)
    assert loaded["per_case"]["case_b"]["tumor"]["hd95"] is None
    assert loaded["per_class"]["liver"]["dice"]["mean"] == pytest.approx(0.9)
    assert format_table(loaded) == format_table(r)


def test_case_means_average_the_classes_of_a_case_skipping_undefined_values(tmp_path, folders):
    pred, ref, dataset_json = folders
    r = evaluate_folders(pred, ref, dataset_json=dataset_json)
    out = tmp_path / "svl_evaluation.json"
    write_results_json(r, out)
    # case_a: liver 0.8, tumor 1.0 -> 0.9; case_b: liver 1.0, tumor 0.0 -> 0.5
    assert case_means(r) == pytest.approx({"case_a": 0.9, "case_b": 0.5})
    # HD95: case_a (4 + 0)/2 = 2; case_b: liver 0, tumor undefined (NaN in memory, null in the file) -> 0 alone
    assert case_means(r, "hd95") == pytest.approx({"case_a": 2.0, "case_b": 0.0})
    assert case_means(out, "hd95") == case_means(r, "hd95") and case_means(out) == case_means(r)
    only_undefined = {"per_case": {"c": {"liver": {"hd95": None}, "tumor": {"hd95": float("nan")}}}}
    assert math.isnan(case_means(only_undefined, "hd95")["c"])
    with pytest.raises(SVLInputError, match="evaluation is missing") as e:
        case_means(tmp_path / "absent.json")
    assert e.value.path == str(tmp_path / "absent.json") and "nnunet-svl evaluate" in str(e.value)


def test_table_lists_cases_classes_and_numbers(folders):
    pred, ref, dataset_json = folders
    table = format_table(evaluate_folders(pred, ref, dataset_json=dataset_json))
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["case", "class", "Dice", "IoU"] and "HD95 (mm)" in lines[0]
    row_a_liver = next(line for line in lines if line.startswith("case_a") and "liver" in line)
    assert row_a_liver.split()[2:5] == ["0.8000", "0.6667", "4.00"]
    row_b_tumor = next(line for line in lines if line.startswith("case_b") and "tumor" in line)
    assert row_b_tumor.split()[2:6] == ["0.0000", "0.0000", "n/a", "n/a"]
    assert any(line.startswith("mean ± sd") and "liver" in line and "0.9000 ± 0.1000" in line for line in lines)
    assert any("tumor" in line and "(1 n/a)" in line for line in lines)
    assert any(line.startswith("mean of classes") and "0.7000" in line for line in lines)
    assert len({len(line) for line in lines[:2]}) == 1  # header and rule line up
