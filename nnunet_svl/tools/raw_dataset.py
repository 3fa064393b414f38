"""Reading and validating an nnU-Net v2 raw dataset (``DatasetXXX_Name/`` with dataset.json, imagesTr, labelsTr,
imagesTs, labelsTs).

Every problem is an :class:`~nnunet_svl.runtime.errors.SVLInputError` naming the file, the problem and the fix, raised before
anything is written (the corruption tool and the benchmark validate their source first). The checks follow nnU-Net's
``verify_dataset_integrity`` and are stricter where nnU-Net only warns (origin and direction must match too).

Images are read with SimpleITK (file endings ``.nii.gz``, ``.nii``, ``.mha``, ``.nrrd``, ``.gipl``); other endings
(e.g. 2-D ``.png`` or ``.tif`` datasets) are refused with a clear message. Datasets that list their files in a
``"dataset"`` key of dataset.json instead of using imagesTr/labelsTr are not supported. Note that SimpleITK (and
so nnU-Net's default reader) reads NaN/Inf in NIfTI files as 0; the NaN/Inf check matters for .mha/.nrrd files.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np
import SimpleITK as sitk

from nnunet_svl.runtime.errors import SVLInputError
from nnunet_svl.runtime.jsonio import read_json

SITK_FILE_ENDINGS = (".nii.gz", ".nii", ".mha", ".nrrd", ".gipl")
REQUIRED_KEYS = ("channel_names", "labels", "numTraining", "file_ending")
GEOMETRY_RTOL = 1e-4
GEOMETRY_ATOL = 1e-4
_DATASET_NAME = re.compile(r"Dataset(\d{3,})_(.+)")


def dataset_id_and_name(folder: Union[str, Path]) -> tuple[int, str]:
    """(990, 'SVLDemo') for ``.../Dataset990_SVLDemo``; SVLInputError if the folder name is not nnU-Net's."""
    m = _DATASET_NAME.fullmatch(Path(folder).name)
    if not m:
        raise SVLInputError(folder, "the folder name is not of nnU-Net's form DatasetXXX_Name",
                            "rename it, e.g. Dataset990_MyData")
    return int(m.group(1)), m.group(2)


def _raw_root(raw_root: Optional[Path]) -> Path:
    if raw_root is not None:
        return Path(raw_root)
    value = os.environ.get("nnUNet_raw")
    if not value:
        raise SVLInputError(None, "no raw folder given and the environment variable nnUNet_raw is not set",
                            "export nnUNet_raw=/path/to/nnUNet_raw or pass the dataset folder's path")
    return Path(value)


def find_dataset_folder(dataset: Union[str, int, Path], raw_root: Optional[Path] = None) -> Path:
    """The raw dataset folder for an id (990 or '990'), a name ('Dataset990_SVLDemo') or a path.

    Ids and names are looked up in ``raw_root`` (default: ``$nnUNet_raw``)."""
    if isinstance(dataset, Path) or (isinstance(dataset, str) and os.sep in dataset):
        folder = Path(dataset)
        if not folder.is_dir():
            raise SVLInputError(folder, "dataset folder does not exist", "pass an existing nnU-Net raw dataset folder")
        return folder
    text = str(dataset).strip()
    if text.isdigit():
        root = _raw_root(raw_root)
        hits = sorted(p for p in root.glob(f"Dataset{int(text):03d}_*") if p.is_dir()) if root.is_dir() else []
        if not hits:
            raise SVLInputError(root, f"no dataset with id {int(text)} (no folder Dataset{int(text):03d}_*)",
                                "check the id, or create the dataset first (e.g. nnunet-svl demo-dataset)")
        if len(hits) > 1:
            raise SVLInputError(root, f"dataset id {int(text)} is ambiguous: {', '.join(p.name for p in hits)}",
                                "remove or renumber all but one of these folders")
        return hits[0]
    if text.startswith("Dataset") and (raw_root is not None or os.environ.get("nnUNet_raw")):
        folder = _raw_root(raw_root) / text
        if folder.is_dir():
            return folder
        raise SVLInputError(folder, "dataset folder does not exist", "check the name, raw_root or nnUNet_raw")
    folder = Path(text)
    if folder.is_dir():
        return folder
    if text.startswith("Dataset"):
        _raw_root(raw_root)  # raises: nnUNet_raw is not set
    raise SVLInputError(None, f"{dataset!r} is neither a dataset id, a DatasetXXX_Name nor an existing folder",
                        "pass e.g. 990, Dataset990_SVLDemo or /path/to/Dataset990_SVLDemo")


def read_sitk(path: Union[str, Path]) -> tuple[np.ndarray, sitk.Image]:
    """(array in SimpleITK's (z, y, x) order, the image with its geometry). SVLInputError for unreadable files."""
    path = Path(path)
    _check_file_ending(path.name, path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as e:
        reason = (str(e).strip().splitlines() or ["unknown error"])[-1][:120]
        raise SVLInputError(path, f"SimpleITK cannot read the file ({reason})",
                            "replace the file with a valid image") from None
    return sitk.GetArrayFromImage(image), image


def _read_header(path: Path) -> sitk.ImageFileReader:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        raise SVLInputError(path, "SimpleITK cannot read the file's header",
                            "replace the file with a valid image") from None
    return reader


def _check_file_ending(name: str, where: Union[str, Path]) -> None:
    if not any(name.lower().endswith(e) for e in SITK_FILE_ENDINGS):
        raise SVLInputError(where, f"unsupported file ending (supported: {', '.join(SITK_FILE_ENDINGS)})",
                            "convert the dataset to .nii.gz")


def copy_geometry(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    """A SimpleITK image of ``array`` ((z, y, x) order) with ``reference``'s spacing, origin, direction and metadata."""
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    for key in reference.GetMetaDataKeys():
        image.SetMetaData(key, reference.GetMetaData(key))
    return image


@dataclass
class RawDataset:
    """An nnU-Net v2 raw dataset folder and its dataset.json (cases found the way nnU-Net finds them)."""

    folder: Path
    dataset_json: dict
    file_ending: str
    num_channels: int
    labels: dict
    ignore_label: Optional[int]
    training_cases: list[str] = field(default_factory=list)
    test_cases: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def label_values(self) -> list[int]:
        """Every label value a label file may contain (background, classes, region members, ignore)."""
        values: set[int] = set()
        for v in self.labels.values():
            values.update(int(i) for i in (v if isinstance(v, (list, tuple)) else [v]))
        return sorted(values)

    @property
    def foreground_labels(self) -> list[int]:
        """Label values other than background (0) and the ignore label."""
        return [v for v in self.label_values if v != 0 and v != self.ignore_label]

    def image_paths(self, case: str, split: str = "Tr") -> list[Path]:
        return [self.folder / f"images{_split(split)}" / f"{case}_{c:04d}{self.file_ending}"
                for c in range(self.num_channels)]

    def label_path(self, case: str, split: str = "Tr") -> Path:
        return self.folder / f"labels{_split(split)}" / f"{case}{self.file_ending}"


def _split(split: str) -> str:
    if split not in ("Tr", "Ts"):
        raise ValueError(f"split must be 'Tr' or 'Ts', got {split!r}")
    return split


def _cases_in(folder: Path, file_ending: str) -> list[str]:
    """Case identifiers of an images folder, nnU-Net's rule: file name = '<case>_XXXX<file_ending>'."""
    if not folder.is_dir():
        return []
    cases = set()
    for p in folder.iterdir():
        if p.name.startswith(".") or not p.name.endswith(file_ending):
            continue
        stem = p.name[: -len(file_ending)]
        if not re.fullmatch(r".+_\d{4}", stem):
            raise SVLInputError(p, "image file name does not end in a 4-digit channel index (_0000)",
                                f"rename it to <case>_0000{file_ending}")
        cases.add(stem[:-5])
    return sorted(cases)


def load_raw_dataset(folder: Union[str, Path]) -> RawDataset:
    """Read ``folder/dataset.json`` and list the training and test cases. Checks dataset.json, not the images."""
    folder = Path(folder)
    dj_path = folder / "dataset.json"
    dj = read_json(dj_path, "dataset.json",
                   fix_missing="write it as nnU-Net v2 expects (nnunetv2.dataset_conversion.generate_dataset_json)")
    missing = [k for k in REQUIRED_KEYS if k not in dj]
    if missing:
        raise SVLInputError(dj_path, f"dataset.json lacks {', '.join(missing)}",
                            f"add the keys {', '.join(missing)} (see nnU-Net's dataset_format.md)")
    if "dataset" in dj:
        raise SVLInputError(dj_path, "explicit file lists in dataset.json ('dataset' key) are not supported",
                            "use the imagesTr/labelsTr folder layout")
    file_ending = dj["file_ending"]
    if not isinstance(file_ending, str) or not file_ending.startswith("."):
        raise SVLInputError(dj_path, f"file_ending {file_ending!r} is not a file ending", "write e.g. \".nii.gz\"")
    _check_file_ending(file_ending, dj_path)
    channels = dj["channel_names"]
    if not isinstance(channels, dict) or not channels or \
            sorted(str(k) for k in channels) != [str(i) for i in range(len(channels))]:
        raise SVLInputError(dj_path, f"channel_names {channels!r} must map \"0\", \"1\", ... to names",
                            "write e.g. \"channel_names\": {\"0\": \"MRI\"}")
    labels = _check_labels(dj["labels"], dj_path)
    ignore = labels.get("ignore")
    return RawDataset(folder=folder, dataset_json=dj, file_ending=file_ending, num_channels=len(channels),
                      labels=labels, ignore_label=None if ignore is None else int(ignore),
                      training_cases=_cases_in(folder / "imagesTr", file_ending),
                      test_cases=_cases_in(folder / "imagesTs", file_ending))


def _check_labels(labels, dj_path: Path) -> dict:
    """nnU-Net's label rules: background 0, integer values (or tuples for regions), consecutive, ignore highest."""
    fix = "write e.g. \"labels\": {\"background\": 0, \"lesion\": 1}"
    if not isinstance(labels, dict) or not labels:
        raise SVLInputError(dj_path, f"labels {labels!r} is not a non-empty dict", fix)
    out: dict = {}
    for name, v in labels.items():
        members = v if isinstance(v, (list, tuple)) else [v]
        if not members or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in members):
            raise SVLInputError(dj_path, f"label {name!r} has value {v!r}, not a non-negative integer (or a list of "
                                         f"them for regions)", fix)
        out[name] = tuple(members) if isinstance(v, (list, tuple)) else int(v)
    if out.get("background") != 0:
        raise SVLInputError(dj_path, "labels must contain \"background\": 0", fix)
    if "ignore" in out and not isinstance(out["ignore"], int):
        raise SVLInputError(dj_path, "the ignore label must be an integer, not a region", fix)
    values = sorted({i for k, v in out.items() if k != "ignore" for i in (v if isinstance(v, tuple) else [v])})
    if values != list(range(len(values))):
        raise SVLInputError(dj_path, f"label values {values} are not consecutive from 0", "renumber them 0, 1, 2, ...")
    if "ignore" in out and out["ignore"] != len(values):
        raise SVLInputError(dj_path, f"the ignore label must be the highest value ({len(values)}), got "
                                     f"{out['ignore']}", f"set \"ignore\": {len(values)}")
    return out


def _same(a, b) -> bool:
    return np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=GEOMETRY_RTOL, atol=GEOMETRY_ATOL)


def _check_geometry(reference: sitk.ImageFileReader, ref_path: Path, other: sitk.ImageFileReader,
                    other_path: Path) -> None:
    for what, get, same in (("size", lambda r: r.GetSize(), lambda a, b: tuple(a) == tuple(b)),
                            ("spacing", lambda r: r.GetSpacing(), _same),
                            ("origin", lambda r: r.GetOrigin(), _same),
                            ("direction", lambda r: r.GetDirection(), _same)):
        a, b = get(reference), get(other)
        if len(a) != len(b) or not same(a, b):
            raise SVLInputError(other_path, f"{what} {tuple(np.round(b, 6))} differs from {ref_path.name}'s "
                                            f"{tuple(np.round(a, 6))}",
                                f"resample or re-save it with the geometry of {ref_path.name}")


def _check_case(ds: RawDataset, case: str, split: str, check_content: bool, label_required: bool) -> None:
    images = ds.image_paths(case, split)
    for p in images:
        if not p.is_file():
            raise SVLInputError(p, f"channel file missing for case {case!r} ({ds.num_channels} channels declared)",
                                "add the file or fix channel_names in dataset.json")
    label = ds.label_path(case, split)
    if not label.is_file():
        if label_required:
            raise SVLInputError(label, f"training case {case!r} has images but no label",
                                f"add labels{split}/{label.name} or remove the case's images")
        label = None
    headers = [(p, _read_header(p)) for p in images] + ([(label, _read_header(label))] if label else [])
    ref_path, ref = headers[0]
    if ref.GetDimension() not in (2, 3):
        raise SVLInputError(ref_path, f"image has {ref.GetDimension()} dimensions", "use 2-D or 3-D images")
    for p, h in headers[1:]:
        _check_geometry(ref, ref_path, h, p)
    if not check_content:
        return
    for p in images:
        arr = read_sitk(p)[0]
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            raise SVLInputError(p, f"image contains {int(np.isnan(arr).sum())} NaN and "
                                   f"{int(np.isinf(arr).sum())} Inf values",
                                "replace them with finite values (e.g. the background intensity)")
    if label is not None:
        arr = read_sitk(label)[0]
        found = np.unique(arr)
        if not np.isfinite(found).all() or not np.array_equal(found, np.round(found)):
            raise SVLInputError(label, "label contains non-integer values", "save labels with an integer dtype")
        undeclared = sorted(set(int(v) for v in found) - set(ds.label_values))
        if undeclared:
            raise SVLInputError(label, f"label values {undeclared} are not declared in dataset.json "
                                       f"(declared: {ds.label_values})",
                                "fix the label file or add the values to \"labels\" in dataset.json")


def validate_raw_dataset(ds: RawDataset, check_content: bool = True) -> None:
    """Raise SVLInputError for the first problem found (files, pairing, geometry; with ``check_content`` also label
    values and NaN/Inf intensities). Geometry tolerance: 1e-4 relative (and 1e-4 absolute near zero)."""
    dj_path = ds.folder / "dataset.json"
    for sub in ("imagesTr", "labelsTr"):
        if not (ds.folder / sub).is_dir():
            raise SVLInputError(ds.folder / sub, "folder is missing", "put the training images and labels there")
    if len(ds.training_cases) != ds.dataset_json["numTraining"]:
        raise SVLInputError(dj_path, f"numTraining is {ds.dataset_json['numTraining']} but imagesTr holds "
                                     f"{len(ds.training_cases)} cases",
                            f"set \"numTraining\": {len(ds.training_cases)} or add the missing cases")
    for split, cases in (("Tr", ds.training_cases), ("Ts", ds.test_cases)):
        labels_dir = ds.folder / f"labels{split}"
        if labels_dir.is_dir():
            known = set(cases)
            for p in sorted(labels_dir.iterdir()):
                if p.name.endswith(ds.file_ending) and not p.name.startswith(".") and \
                        p.name[: -len(ds.file_ending)] not in known:
                    raise SVLInputError(p, "label has no image (no matching "
                                           f"images{split}/{p.name[: -len(ds.file_ending)]}_0000{ds.file_ending})",
                                        "add the image or remove the label")
        for case in cases:
            _check_case(ds, case, split, check_content, label_required=split == "Tr")
