"""The two-pass workflow's prior (docs/METHOD.md §7) [ours]: the cases ``nnunet-svl label-qa`` flagged from nnU-Net's
held-out 5-fold predictions, read by the teacher gate before training (config ``label_qa``)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from nnunet_svl.runtime.errors import SVLInputError
from nnunet_svl.runtime.jsonio import read_json

_RUN_QA = ("run `nnunet-svl label-qa $nnUNet_results/<dataset>/<trainer>__<plans>__<configuration>` on 5 folds "
           "trained with --npz first, or set \"label_qa\" to its output folder in the NNUNET_SVL_CONFIG file")


def label_qa_summary_path(setting: str, dataset_name: str, results_root: Optional[Path]) -> Path:
    """The summary.json ``setting`` names: a folder or file, or ``auto`` = the one ``label_qa/summary.json`` under
    ``results_root/<dataset_name>/*/``."""
    if setting == "auto":
        if results_root is None:
            raise SVLInputError("nnUNet_results", "is not set, so label_qa='auto' cannot find the label QA", _RUN_QA)
        found = sorted((Path(results_root) / dataset_name).glob("*/label_qa/summary.json"))
        if len(found) != 1:
            raise SVLInputError(Path(results_root) / dataset_name,
                                f"holds {len(found)} label_qa folders ({[str(f.parent) for f in found]}), "
                                "label_qa='auto' needs exactly one", _RUN_QA)
        return found[0]
    path = Path(setting)
    path = path / "summary.json" if path.is_dir() else path
    if not path.is_file():
        raise SVLInputError(path, "is not a label-qa summary.json", _RUN_QA)
    return path


def label_qa_flags(setting: str, dataset_name: str, results_root: Optional[Path]) -> tuple[frozenset, Path]:
    """(the cases label-qa flagged, the summary it read); the summary must be of this dataset."""
    path = label_qa_summary_path(setting, dataset_name, results_root)
    summary = read_json(path)
    if summary.get("dataset") != dataset_name:
        raise SVLInputError(path, f"is the label QA of {summary.get('dataset')!r}, not of {dataset_name!r}",
                            "run label-qa on this dataset's folds or point label_qa at its output")
    return frozenset(str(c) for c in summary.get("flagged", [])), path
