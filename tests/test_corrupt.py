"""``corrupt_dataset`` (METHOD.md §4): a new noisy copy of a raw dataset, the source untouched, nothing half-written."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import nnunet_svl.tools.corrupt as corrupt_module
from nnunet_svl.tools.cli import main
from nnunet_svl.tools.corrupt import corrupt_dataset
from nnunet_svl.tools.demo_data import write_demo_dataset
from nnunet_svl.runtime.errors import SVLInputError
from nnunet_svl.tools.raw_dataset import load_raw_dataset, read_sitk, validate_raw_dataset


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    src = write_demo_dataset(tmp_path_factory.mktemp("src"), dataset_id=900, name="Tiny", n_train=4, n_test=2,
                             shape=(24, 24, 24), seed=0)
    before = _hashes(src)
    yield src
    assert _hashes(src) == before, "corrupt_dataset modified its source"


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "noise_manifest.json").read_text())


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_half_of_four_cases_corrupted_with_manifest(source, tmp_path):
    out = corrupt_dataset(source, target_id=901, protocol="mt", ratio=0.5, seed=0, raw_root=tmp_path)
    assert out == tmp_path / "Dataset901_Tiny_mt_rho50"
    assert _leftovers(tmp_path) == [out.name]
    m = _manifest(out)
    assert (m["protocol"], m["ratio"], m["seed"], m["source"], m["n_noisy"]) == ("mt", 0.5, 0, source.name, 2)
    noisy = sorted(c for c, info in m["cases"].items() if info["noisy"])
    assert len(noisy) == 2 and len(m["cases"]) == 4
    src = load_raw_dataset(source)
    for case, info in m["cases"].items():
        clean_file = src.label_path(case)
        new_file = out / "labelsTr" / clean_file.name
        assert (out / "labelsTr_clean" / clean_file.name).read_bytes() == clean_file.read_bytes()
        if info["noisy"]:
            assert info["dice"]["1"] < 1.0
            assert info["operations"]["1"]["operation"] in ("dilate", "erode")
            clean, clean_img = read_sitk(clean_file)
            new, new_img = read_sitk(new_file)
            assert new.dtype == clean.dtype and not np.array_equal(new, clean)
            for getter in ("GetSize", "GetSpacing", "GetOrigin", "GetDirection"):
                assert getattr(new_img, getter)() == getattr(clean_img, getter)()
            inter = np.logical_and(new == 1, clean == 1).sum()
            assert info["dice"]["1"] == pytest.approx(2 * inter / ((new == 1).sum() + (clean == 1).sum()))
        else:
            assert info["dice"] == {"1": 1.0}
            assert new_file.read_bytes() == clean_file.read_bytes()
    json.dumps(m)


def test_output_is_a_valid_nnunet_dataset_with_untouched_images_and_test_split(source, tmp_path):
    from nnunetv2.experiment_planning.verify_dataset_integrity import check_cases, verify_labels
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

    out = corrupt_dataset(str(source), target_id=902, protocol="markov", ratio=1.0, seed=1, raw_root=tmp_path,
                          target_name="Noisy")
    ds = load_raw_dataset(out)
    validate_raw_dataset(ds)
    for case in ds.training_cases:
        assert verify_labels(str(ds.label_path(case)), SimpleITKIO, [0, 1])
        assert check_cases([str(p) for p in ds.image_paths(case)], str(ds.label_path(case)), 1, SimpleITKIO)
    for sub in ("imagesTr", "imagesTs", "labelsTs"):
        assert _hashes(out / sub) == _hashes(source / sub)
    dj = json.loads((out / "dataset.json").read_text())
    src_dj = json.loads((source / "dataset.json").read_text())
    assert {k: v for k, v in dj.items() if k != "svl_noise"} == src_dj
    assert dj["svl_noise"]["protocol"] == "markov" and dj["svl_noise"]["manifest"] == "noise_manifest.json"
    assert all(info["noisy"] and info["operations"]["1"]["operation"] == "markov"
               for info in _manifest(out)["cases"].values())


def test_all_dilate_grows_every_noisy_case(source, tmp_path):
    out = corrupt_dataset(source, target_id=903, protocol="dilate", ratio=0.75, seed=2, raw_root=tmp_path,
                          side_range=(3, 5))
    m = _manifest(out)
    assert m["n_noisy"] == 3  # round(0.75 * 4)
    assert m["params"] == {"side_range": [3, 5]}
    for case, info in m["cases"].items():
        if info["noisy"]:
            clean = read_sitk(out / "labelsTr_clean" / f"{case}.nii.gz")[0] > 0
            noisy = read_sitk(out / "labelsTr" / f"{case}.nii.gz")[0] > 0
            assert noisy.sum() > clean.sum() and (noisy >= clean).all()
            rec = info["operations"]["1"]
            assert rec["side"] in (3, 5) and rec["removed"] == 0 and rec["added"] == noisy.sum() - clean.sum()


def test_same_seed_reproduces_and_ratio_extremes(source, tmp_path):
    a = corrupt_dataset(source, target_id=904, protocol="edt", ratio=0.5, seed=7, raw_root=tmp_path)
    b = corrupt_dataset(source, target_id=905, protocol="edt", ratio=0.5, seed=7, raw_root=tmp_path,
                        target_name="Again")
    assert _manifest(a)["cases"] == _manifest(b)["cases"]
    for p in sorted((a / "labelsTr").iterdir()):
        assert np.array_equal(read_sitk(p)[0], read_sitk(b / "labelsTr" / p.name)[0])
    none = corrupt_dataset(source, target_id=906, protocol="mt", ratio=0.0, raw_root=tmp_path)
    assert not any(c["noisy"] for c in _manifest(none)["cases"].values())
    assert _hashes(none / "labelsTr") == _hashes(source / "labelsTr")
    assert none.name == "Dataset906_Tiny_mt_rho0"


def test_link_images_symlinks_to_the_source(source, tmp_path):
    out = corrupt_dataset(source, target_id=907, protocol="erode", ratio=0.25, raw_root=tmp_path, link_images=True,
                          side_range=(3, 3))
    for p in (out / "imagesTr").iterdir():
        assert p.is_symlink() and p.resolve() == (source / "imagesTr" / p.name).resolve()
    assert _manifest(out)["n_noisy"] == 1


def test_existing_target_id_is_refused(source, tmp_path):
    (tmp_path / "Dataset908_Other").mkdir()
    with pytest.raises(SVLInputError, match="dataset id 908 is already used") as info:
        corrupt_dataset(source, target_id=908, protocol="mt", raw_root=tmp_path)
    assert info.value.path == str(tmp_path / "Dataset908_Other")
    assert _leftovers(tmp_path) == ["Dataset908_Other"]


@pytest.mark.parametrize("kwargs, match", [
    ({"protocol": "blur"}, "unknown noise protocol 'blur'.*mt, edt, markov, dilate, erode"),
    ({"protocol": "mt", "ratio": 1.5}, r"ratio 1.5 is outside \[0, 1\]"),
    ({"protocol": "mt", "side_range": (4, 4)}, "no odd side"),
    ({"protocol": "markov", "theta9": 1}, "rejects the parameters"),
    ({"protocol": "mt", "classes": [2]}, r"classes \[2\] are not foreground labels"),
    ({"protocol": "mt", "target_name": "a/b"}, "may only contain"),
    ({"protocol": "mt", "target_id": 1000}, "outside 1..999"),
])
def test_bad_requests_write_nothing(source, tmp_path, kwargs, match):
    kwargs = {"target_id": 909, **kwargs}
    with pytest.raises(SVLInputError, match=match):
        corrupt_dataset(source, raw_root=tmp_path, **kwargs)
    assert _leftovers(tmp_path) == []


def test_invalid_source_is_refused_before_writing(source, tmp_path):
    broken = Path(shutil.copytree(source, tmp_path / "src" / source.name))
    (broken / "labelsTr" / "Tiny_002.nii.gz").unlink()
    out_root = tmp_path / "out"
    with pytest.raises(SVLInputError, match="has images but no label") as info:
        corrupt_dataset(broken, target_id=910, protocol="mt", raw_root=out_root)
    assert info.value.path == str(broken / "labelsTr" / "Tiny_002.nii.gz")
    assert _leftovers(out_root) == []


def test_failure_half_way_leaves_nothing(source, tmp_path, monkeypatch):
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    real = corrupt_module.corrupt_label
    monkeypatch.setattr(corrupt_module, "corrupt_label", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        corrupt_dataset(source, target_id=911, protocol="mt", ratio=1.0, raw_root=tmp_path)
    assert _leftovers(tmp_path) == []


def test_cli_success_and_one_line_error(source, tmp_path, capsys):
    assert main(["corrupt", str(source), "--target-id", "912", "--protocol", "mt", "--param", "side_range=3,5",
                 "--raw-root", str(tmp_path)]) == 0
    assert _manifest(tmp_path / "Dataset912_Tiny_mt_rho50")["params"] == {"side_range": [3, 5]}
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:     # --protocol lists its choices: argparse's usage + one error line
        main(["corrupt", str(source), "--target-id", "913", "--protocol", "blur", "--raw-root", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].endswith("argument --protocol: invalid choice: 'blur' (choose from 'mt', 'edt', "
                                         "'markov', 'dilate', 'erode')") and "Traceback" not in err


def test_two_class_dataset_nested_corruption(tmp_path):
    src = write_demo_dataset(tmp_path / "src", dataset_id=920, name="Two", n_train=2, n_test=0,
                             shape=(24, 24, 24), num_classes=2, seed=5)
    out = corrupt_dataset(src, target_id=921, protocol="erode", ratio=1.0, raw_root=tmp_path / "out",
                          nested=True, side_range=(3, 3))
    m = _manifest(out)
    assert m["nested"] is True and m["classes"] == [1, 2]
    for case, info in m["cases"].items():
        assert set(info["dice"]) == {"1", "2"} and set(info["operations"]) == {"1", "2"}
        clean = read_sitk(out / "labelsTr_clean" / f"{case}.nii.gz")[0]
        noisy = read_sitk(out / "labelsTr" / f"{case}.nii.gz")[0]
        assert ((noisy > 0) <= (clean > 0)).all() and ((noisy == 2) <= (clean == 2)).all()
        assert info["dice"]["1"] < 1.0 and info["dice"]["2"] < 1.0
