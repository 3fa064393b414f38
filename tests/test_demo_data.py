"""The synthetic demo dataset (nnunet_svl.tools.demo_data) and raw-dataset reading/validation (nnunet_svl.tools.raw_dataset)."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from nnunet_svl.tools.demo_data import DIRECTION, SPACING, make_phantom, write_demo_dataset
from nnunet_svl.runtime.errors import SVLInputError
from nnunet_svl.tools.raw_dataset import find_dataset_folder, load_raw_dataset, read_sitk, validate_raw_dataset

SHAPE = (20, 18, 16)  # X, Y, Z: arrays are (16, 18, 20)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return write_demo_dataset(tmp_path_factory.mktemp("raw"), dataset_id=990, n_train=3, n_test=1, shape=SHAPE,
                              num_classes=2, seed=3)


@pytest.fixture
def broken(demo, tmp_path) -> Path:
    """A private copy of the demo dataset to break."""
    return Path(shutil.copytree(demo, tmp_path / demo.name))


def _arrays(folder: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(folder)): read_sitk(p)[0] for p in sorted(folder.rglob("*.nii.gz"))}


# ------------------------------------------------------------------------------------------------ demo dataset


def test_layout_and_dataset_json(demo):
    assert demo.name == "Dataset990_SVLDemo"
    dj = json.loads((demo / "dataset.json").read_text())
    assert dj["channel_names"] == {"0": "MRI"}
    assert dj["labels"] == {"background": 0, "lesion": 1, "core": 2}
    assert dj["numTraining"] == 3 and dj["file_ending"] == ".nii.gz"
    assert sorted(p.name for p in (demo / "imagesTr").iterdir()) == [f"SVLDemo_00{i}_0000.nii.gz" for i in range(3)]
    assert sorted(p.name for p in (demo / "labelsTs").iterdir()) == ["SVLDemo_003.nii.gz"]
    assert not [p for p in demo.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left behind
    ds = load_raw_dataset(demo)
    assert ds.training_cases == ["SVLDemo_000", "SVLDemo_001", "SVLDemo_002"] and ds.test_cases == ["SVLDemo_003"]
    validate_raw_dataset(ds)


def test_nnunet_own_checks_accept_the_dataset(demo):
    from nnunetv2.experiment_planning.verify_dataset_integrity import check_cases, verify_labels
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

    ds = load_raw_dataset(demo)
    for case in ds.training_cases:
        assert verify_labels(str(ds.label_path(case)), SimpleITKIO, [0, 1, 2])
        assert check_cases([str(p) for p in ds.image_paths(case)], str(ds.label_path(case)), 1, SimpleITKIO)


def test_geometry_is_nontrivial_and_shared_by_image_and_label(demo):
    ds = load_raw_dataset(demo)
    for split, cases in (("Tr", ds.training_cases), ("Ts", ds.test_cases)):
        for case in cases:
            img = read_sitk(ds.image_paths(case, split)[0])[1]
            lab = read_sitk(ds.label_path(case, split))[1]
            assert img.GetSize() == lab.GetSize() == SHAPE
            assert img.GetSpacing() == lab.GetSpacing() == pytest.approx(SPACING)
            assert img.GetOrigin() == lab.GetOrigin() and np.abs(img.GetOrigin()).min() > 1.0
            assert img.GetDirection() == lab.GetDirection() == pytest.approx(DIRECTION)
    direction = np.reshape(DIRECTION, (3, 3))
    assert not np.allclose(direction, np.eye(3)) and np.isclose(np.linalg.det(direction), 1.0)


def test_label_content_and_foreground_fraction(demo):
    ds = load_raw_dataset(demo)
    for case in ds.training_cases + ds.test_cases:
        split = "Tr" if case in ds.training_cases else "Ts"
        label = read_sitk(ds.label_path(case, split))[0]
        image = read_sitk(ds.image_paths(case, split)[0])[0]
        assert label.dtype == np.uint8 and image.dtype == np.float32
        assert set(np.unique(label)) == {0, 1, 2}
        assert 0.03 <= (label > 0).mean() <= 0.15
        core = label == 2
        assert not (ndimage.binary_dilation(core) & (label == 0)).any()  # the core is nested inside the lesion
        # the lesion is brighter than the tissue around it by ~1.75 noise sd (10): a learnable contrast
        rim = ndimage.binary_dilation(label > 0, iterations=3) & (label == 0)
        assert image[label == 1].mean() - image[rim].mean() > 8.0


def test_same_seed_gives_identical_arrays_and_other_seed_differs(demo, tmp_path):
    again = write_demo_dataset(tmp_path / "a", dataset_id=990, n_train=3, n_test=1, shape=SHAPE, num_classes=2,
                               seed=3)
    a, b = _arrays(demo), _arrays(again)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k
    other = _arrays(write_demo_dataset(tmp_path / "b", dataset_id=990, n_train=3, n_test=1, shape=SHAPE,
                                       num_classes=2, seed=4))
    assert not np.array_equal(a["labelsTr/SVLDemo_000.nii.gz"], other["labelsTr/SVLDemo_000.nii.gz"])


def test_a_fainter_lesion_changes_the_image_not_the_label():
    """``lesion_contrast_sd`` scales only the lesion's brightening: same draw, same label; the image differs by
    (c1 − c0)·noise sd · the blurred lesion, so inside the lesion by about that and far outside it by nothing."""
    from nnunet_svl.tools.demo_data import LESION_CONTRAST_SD, NOISE_SD

    img_a, lab_a = make_phantom(np.random.default_rng(5), (32, 32, 32))
    img_b, lab_b = make_phantom(np.random.default_rng(5), (32, 32, 32), lesion_contrast_sd=1.0)
    assert np.array_equal(lab_a, lab_b)
    diff = img_a - img_b
    core = ndimage.binary_erosion(lab_a == 1, iterations=3)
    far = ~ndimage.binary_dilation(lab_a == 1, iterations=6)
    assert core.any() and far.any()
    # the bias field multiplies the image by exp(±0.25) at most
    expected = (LESION_CONTRAST_SD - 1.0) * NOISE_SD
    assert 0.75 * expected < float(np.median(diff[core])) < 1.3 * expected
    assert float(np.abs(diff[far]).max()) < 0.05 * expected


def test_one_class_dataset_and_phantom_speed(tmp_path):
    folder = write_demo_dataset(tmp_path, dataset_id=7, name="One", n_train=1, n_test=0, shape=(16, 16, 16))
    assert json.loads((folder / "dataset.json").read_text())["labels"] == {"background": 0, "lesion": 1}
    assert set(np.unique(read_sitk(folder / "labelsTr" / "One_000.nii.gz")[0])) == {0, 1}
    start = time.perf_counter()
    make_phantom(np.random.default_rng(0), (48, 48, 48), num_classes=2)
    assert time.perf_counter() - start < 2.0  # ~0.1 s here; the budget is < 1 s per 48^3 case


def test_refuses_to_overwrite_unless_asked(demo, tmp_path):
    root = tmp_path / "raw"
    first = write_demo_dataset(root, dataset_id=12, n_train=1, n_test=0, shape=(16, 16, 16), seed=0)
    marker = first / "imagesTr" / "SVLDemo_000_0000.nii.gz"
    before = marker.read_bytes()
    with pytest.raises(SVLInputError, match="already exists"):
        write_demo_dataset(root, dataset_id=12, n_train=1, n_test=0, shape=(16, 16, 16), seed=1)
    assert marker.read_bytes() == before
    write_demo_dataset(root, dataset_id=12, n_train=1, n_test=0, shape=(16, 16, 16), seed=1, overwrite=True)
    assert marker.read_bytes() != before
    assert sorted(p.name for p in root.iterdir()) == ["Dataset012_SVLDemo"]
    with pytest.raises(SVLInputError, match="id 12 is already used"):
        write_demo_dataset(root, dataset_id=12, name="Other", n_train=1, n_test=0, shape=(16, 16, 16),
                           overwrite=True)


@pytest.mark.parametrize("kwargs, match", [({"num_classes": 3}, "num_classes"), ({"dataset_id": 1000}, "1..999"),
                                           ({"shape": (8, 16, 16)}, "at least 16"), ({"name": "a b"}, "name"),
                                           ({"lesion_contrast_sd": 0.0}, "lesion contrast")])
def test_bad_arguments_are_input_errors(tmp_path, kwargs, match):
    with pytest.raises(SVLInputError, match=match):
        write_demo_dataset(tmp_path, **kwargs)
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------- finding datasets


def test_find_dataset_folder_by_id_name_and_path(demo, monkeypatch):
    root = demo.parent
    assert find_dataset_folder(990, root) == demo
    assert find_dataset_folder("990", root) == demo
    assert find_dataset_folder("Dataset990_SVLDemo", root) == demo
    assert find_dataset_folder(demo) == demo
    assert find_dataset_folder(str(demo)) == demo
    monkeypatch.setenv("nnUNet_raw", str(root))
    assert find_dataset_folder(990) == demo
    with pytest.raises(SVLInputError, match="no dataset with id 991"):
        find_dataset_folder(991)
    monkeypatch.delenv("nnUNet_raw")
    with pytest.raises(SVLInputError, match="nnUNet_raw is not set"):
        find_dataset_folder(990)
    with pytest.raises(SVLInputError, match="neither a dataset id"):
        find_dataset_folder("not-a-dataset", root)
    monkeypatch.chdir(root)  # a bare name that is a folder in the working directory, no nnUNet_raw needed
    assert find_dataset_folder("Dataset990_SVLDemo") == Path("Dataset990_SVLDemo")
    with pytest.raises(SVLInputError, match="nnUNet_raw is not set"):
        find_dataset_folder("Dataset991_Missing")


def test_find_dataset_folder_ambiguous_id(tmp_path):
    (tmp_path / "Dataset005_A").mkdir()
    (tmp_path / "Dataset005_B").mkdir()
    with pytest.raises(SVLInputError, match="ambiguous: Dataset005_A, Dataset005_B"):
        find_dataset_folder(5, tmp_path)


# ------------------------------------------------------------------------------------- validating broken datasets


def _edit_json(folder: Path, **changes) -> None:
    dj = json.loads((folder / "dataset.json").read_text())
    for k, v in changes.items():
        if v is None:
            del dj[k]
        else:
            dj[k] = v
    (folder / "dataset.json").write_text(json.dumps(dj))


def _problem(folder: Path, check_content: bool = True) -> SVLInputError:
    with pytest.raises(SVLInputError) as info:
        validate_raw_dataset(load_raw_dataset(folder), check_content=check_content)
    assert "\n" not in str(info.value) and "Fix: " in str(info.value)
    return info.value


def _rewrite(path: Path, array=None, **geometry) -> None:
    arr, img = read_sitk(path)
    out = sitk.GetImageFromArray(arr if array is None else array)
    out.CopyInformation(img)
    for key, value in geometry.items():
        getattr(out, f"Set{key}")(value)
    sitk.WriteImage(out, str(path))


def test_missing_dataset_json(broken):
    (broken / "dataset.json").unlink()
    with pytest.raises(SVLInputError, match="dataset.json is missing") as info:
        load_raw_dataset(broken)
    assert info.value.path == str(broken / "dataset.json")


@pytest.mark.parametrize("key", ["labels", "channel_names", "file_ending", "numTraining"])
def test_dataset_json_without_required_key(broken, key):
    _edit_json(broken, **{key: None})
    with pytest.raises(SVLInputError, match=f"dataset.json lacks {key}"):
        load_raw_dataset(broken)


@pytest.mark.parametrize("labels, match", [({"lesion": 1}, "background"), ({"background": 0, "lesion": 2},
                                                                            "not consecutive"),
                                           ({"background": 0, "lesion": "one"}, "not a non-negative integer"),
                                           ({"background": 0, "lesion": 1, "ignore": 5}, "highest")])
def test_bad_label_declarations(broken, labels, match):
    _edit_json(broken, labels=labels)
    with pytest.raises(SVLInputError, match=match):
        load_raw_dataset(broken)


def test_unsupported_file_ending(broken):
    _edit_json(broken, file_ending=".png")
    with pytest.raises(SVLInputError, match="unsupported file ending"):
        load_raw_dataset(broken)


def test_training_image_without_label(broken):
    label = broken / "labelsTr" / "SVLDemo_001.nii.gz"
    label.unlink()
    err = _problem(broken, check_content=False)
    assert err.path == str(label) and "has images but no label" in err.problem


def test_label_without_image(broken):
    (broken / "imagesTr" / "SVLDemo_002_0000.nii.gz").unlink()
    _edit_json(broken, numTraining=2)
    err = _problem(broken, check_content=False)
    assert err.path == str(broken / "labelsTr" / "SVLDemo_002.nii.gz") and "label has no image" in err.problem


def test_num_training_mismatch(broken):
    _edit_json(broken, numTraining=5)
    assert "numTraining is 5 but imagesTr holds 3" in _problem(broken).problem


def test_missing_channel_file(broken):
    _edit_json(broken, channel_names={"0": "MRI", "1": "CT"})
    err = _problem(broken, check_content=False)
    assert err.path == str(broken / "imagesTr" / "SVLDemo_000_0001.nii.gz") and "channel file missing" in err.problem


def test_undeclared_label_values_name_file_and_values(broken):
    path = broken / "labelsTr" / "SVLDemo_001.nii.gz"
    arr = read_sitk(path)[0].copy()
    arr[0, 0, 0], arr[0, 0, 1] = 7, 5
    _rewrite(path, arr)
    err = _problem(broken)
    assert err.path == str(path) and "label values [5, 7] are not declared" in err.problem
    validate_raw_dataset(load_raw_dataset(broken), check_content=False)  # headers alone are fine


@pytest.mark.parametrize("geometry, what", [({"Spacing": (0.8, 0.8, 1.2)}, "spacing"),
                                            ({"Origin": (0.0, 0.0, 0.0)}, "origin"),
                                            ({"Direction": (1.0, 0, 0, 0, 1, 0, 0, 0, 1)}, "direction")])
def test_geometry_mismatch(broken, geometry, what):
    path = broken / "labelsTr" / "SVLDemo_000.nii.gz"
    _rewrite(path, **geometry)
    err = _problem(broken, check_content=False)
    assert err.path == str(path) and err.problem.startswith(what) and "SVLDemo_000_0000.nii.gz" in err.problem


def test_geometry_within_tolerance_is_accepted(broken):
    path = broken / "labelsTr" / "SVLDemo_000.nii.gz"
    spacing = read_sitk(path)[1].GetSpacing()
    _rewrite(path, Spacing=tuple(s * (1 + 2e-5) for s in spacing))
    validate_raw_dataset(load_raw_dataset(broken), check_content=False)


def test_shape_mismatch(broken):
    path = broken / "labelsTr" / "SVLDemo_000.nii.gz"
    img = read_sitk(path)[1]
    small = sitk.Image([s - 1 for s in img.GetSize()], sitk.sitkUInt8)
    small.SetSpacing(img.GetSpacing())
    small.SetOrigin(img.GetOrigin())
    small.SetDirection(img.GetDirection())
    sitk.WriteImage(small, str(path))
    err = _problem(broken, check_content=False)
    assert err.path == str(path) and err.problem.startswith("size")


def test_nan_and_inf_intensities(broken):
    # SimpleITK's NIfTI reader turns NaN/Inf into 0, so use MetaImage (.mha), whose reader keeps them
    for p in sorted(broken.rglob("*.nii.gz")):
        sitk.WriteImage(sitk.ReadImage(str(p)), str(p)[: -len(".nii.gz")] + ".mha")
        p.unlink()
    _edit_json(broken, file_ending=".mha")
    validate_raw_dataset(load_raw_dataset(broken))
    path = broken / "imagesTs" / "SVLDemo_003_0000.mha"
    arr = read_sitk(path)[0].copy()
    arr[1, 2, 3], arr[2, 2, 2] = np.nan, np.inf
    _rewrite(path, arr)
    err = _problem(broken)
    assert err.path == str(path) and "1 NaN and 1 Inf" in err.problem


def test_unreadable_file(broken):
    path = broken / "labelsTr" / "SVLDemo_000.nii.gz"
    path.write_bytes(b"not an image")
    err = _problem(broken, check_content=False)
    assert err.path == str(path) and "cannot read" in err.problem


def test_image_name_without_channel_index(broken):
    bad = broken / "imagesTr" / "stray.nii.gz"
    shutil.copyfile(broken / "imagesTr" / "SVLDemo_000_0000.nii.gz", bad)
    with pytest.raises(SVLInputError, match="4-digit channel index") as info:
        load_raw_dataset(broken)
    assert info.value.path == str(bad)
