"""Benchmark diagnostics inside nnU-Net training: memorisation curves and correction quality against clean labels
[ours]. Diagnostic only: when ``NNUNET_SVL_CLEAN_LABELS`` is unset nothing here runs, and when it is set the clean
labels are read for logging and nothing else (no training decision uses them).

``NNUNET_SVL_CLEAN_LABELS`` names a folder of clean label files, one per training case, named like ``labelsTr``
(``nnunet-svl corrupt`` writes ``labelsTr_clean/`` beside ``imagesTr``; ``nnunet-svl benchmark`` sets the variable).
Each is brought into the training geometry by nnU-Net's own preprocessor together with the case's raw images.

* :class:`DiagnosticsMixin` (any nnU-Net trainer, the stock baseline's budget variants too): after every epoch — outside
  nnU-Net's epoch start and end times, so time-per-epoch figures do not include it — the network segments every
  training case and logs, in nnU-Net's logger, the **memorisation curves**: foreground Dice of the prediction on the
  noisy training cases against their given (noisy) labels (``mem_noisy_vs_given``) and against their clean labels
  (``mem_noisy_vs_clean``), and on the clean training cases (``mem_clean_vs_given``); with
  ``NNUNET_SVL_TEST_SET`` also on held-out test cases (``mem_test_vs_clean``, :data:`TEST_SET_ENV_VAR`).
* Label rounds (method trainers): :meth:`DiagnosticsMixin.observe_round_case` records, per case, how the round's
  labels compare with the clean ones; :meth:`DiagnosticsMixin.finish_round_quality` summarises the round
  (:func:`nnunet_svl.diagnostics.quality.summarise`), logs the headline figures as ``q_*`` scalars and appends the
  full per-class figures to ``svl_diagnostics.json`` in the fold folder.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from nnunetv2.utilities.label_handling.label_handling import convert_labelmap_to_one_hot
from torch import distributed as dist

from nnunet_svl.diagnostics.quality import case_record, foreground_dice, summarise
from nnunet_svl.parts.base import LabelSpace
from nnunet_svl.parts.voxels import first_scale, valid_voxels
from nnunet_svl.runtime.atomic_io import atomic_write_json
from nnunet_svl.runtime.errors import SVLInputError
from nnunet_svl.runtime.jsonio import read_json
from nnunet_svl.trainers.case_inference import sliding_window_maps

CLEAN_LABELS_ENV_VAR = "NNUNET_SVL_CLEAN_LABELS"
MEMORISATION_EVERY_ENV_VAR = "NNUNET_SVL_MEMORISATION_EVERY"
"""Measure the memorisation curves every N epochs (default 1; the last epoch always); other epochs log NaN."""
TEST_SET_ENV_VAR = "NNUNET_SVL_TEST_SET"
"""Diagnostic only, with the clean labels named: a raw dataset folder whose ``imagesTs``/``labelsTs`` the network
segments with the memorisation curves, logged as ``mem_test_vs_clean`` (the learning curve on held-out cases; both
through nnU-Net's preprocessor, compared in the network's geometry: a curve, not the stock predictor's figure)."""
MEMORISATION_KEYS = ("mem_noisy_vs_given", "mem_noisy_vs_clean", "mem_clean_vs_given", "mem_test_vs_clean")
QUALITY_KEYS = ("q_flip_precision_noisy", "q_flip_precision_clean", "q_recall_noisy", "q_net_fixed_noisy",
                "q_net_fixed_clean", "q_dice_in_force_noisy", "q_dice_in_force_clean", "q_omega_auroc",
                "q_case_auroc", "q_flag_precision", "q_flag_recall")
DIAGNOSTIC_KEYS = MEMORISATION_KEYS + QUALITY_KEYS


def clean_labels_folder() -> Optional[Path]:
    value = os.environ.get(CLEAN_LABELS_ENV_VAR, "").strip()
    if not value:
        return None
    folder = Path(value)
    if not folder.is_dir():
        raise SVLInputError(folder, f"the clean-label folder named by {CLEAN_LABELS_ENV_VAR} does not exist",
                            "name the folder of clean training labels (e.g. <dataset>/labelsTr_clean) or unset it")
    return folder


def held_out_test_folder() -> Optional[Path]:
    value = os.environ.get(TEST_SET_ENV_VAR, "").strip()
    if not value:
        return None
    folder = Path(value)
    if not (folder / "imagesTs").is_dir() or not (folder / "labelsTs").is_dir():
        raise SVLInputError(folder, f"named by {TEST_SET_ENV_VAR} has no imagesTs/ and labelsTs/",
                            "name a raw dataset folder with test images and their labels, or unset it")
    return folder


def _mean_class_dice(summary: dict, group: str) -> float:
    vals = [v for k, v in summary.items() if k.startswith("dice_in_force_c") and k.endswith(f"_{group}")]
    return float(np.mean(vals)) if vals else float("nan")


class DiagnosticsMixin:
    """Mix into an nnU-Net trainer (before ``nnUNetTrainer`` in the bases); see the module docstring."""

    def _init_diagnostics(self) -> None:
        self.clean_labels_folder = clean_labels_folder()
        self.test_set_folder = held_out_test_folder()
        self._test_cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._round_records: list[dict] = []
        self._clean_cache: dict[str, np.ndarray] = {}
        self._given_cache: dict[str, np.ndarray] = {}
        for key in DIAGNOSTIC_KEYS:
            self.logger.local_logger.my_fantastic_logging.setdefault(key, [])

    @property
    def diagnostics_enabled(self) -> bool:
        return getattr(self, "clean_labels_folder", None) is not None

    # ------------------------------------------------------------------------------------------ case access
    def preprocessed_case(self, case: str) -> tuple[np.ndarray, np.ndarray]:
        """The network input (C, *sp) float32 (cascade: plus the previous stage's one-hot) and the given label
        (1, *sp) int16 of a training case, as nnU-Net preprocessed them."""
        ds = self.dataset_class(self.preprocessed_dataset_folder, [case],
                                folder_with_segs_from_previous_stage=self.folder_with_segs_from_previous_stage)
        data, seg, seg_prev, _ = ds.load_case(case)
        data = np.asarray(data[:], dtype=np.float32)
        if seg_prev is not None:
            # cascade: the network's input is the image plus the previous stage's segmentation, one channel per
            # foreground label, built by the function nnU-Net's predictor uses for it
            prev = np.asarray(seg_prev[:])
            prev = prev[0] if prev.ndim == data.ndim else prev
            onehot = convert_labelmap_to_one_hot(prev, self.label_manager.foreground_labels, data.dtype)
            data = np.concatenate([data, onehot], axis=0)
        return data, np.asarray(seg[:], dtype=np.int16)

    def given_label(self, case: str) -> np.ndarray:
        """The given label of a training case (cached only while diagnostics are on: benchmark-sized data)."""
        if not self.diagnostics_enabled:
            return self.preprocessed_case(case)[1]
        if case not in self._given_cache:
            self._given_cache[case] = self.preprocessed_case(case)[1]
        return self._given_cache[case]

    def clean_label(self, case: str) -> np.ndarray:
        """The clean label of a training case in preprocessed geometry: the clean label file and the case's raw
        images through nnU-Net's own preprocessor (the images are those of the training data, so the crop and the
        resampling are the same; a shape mismatch is an error)."""
        if case not in self._clean_cache:
            folder = self.clean_labels_folder
            ending = self.dataset_json["file_ending"]
            seg_file = folder / f"{case}{ending}"
            images = folder.parent / "imagesTr"
            if not images.is_dir():
                from nnunetv2.paths import nnUNet_raw
                images = Path(nnUNet_raw or ".") / self.plans_manager.dataset_name / "imagesTr"
            image_files = self._raw_image_files(images, case)
            missing = [p for p in [seg_file] + image_files if not p.is_file()]
            if missing:
                raise SVLInputError(missing[0], f"needed for the clean-label diagnostics of case {case} is missing",
                                    f"point {CLEAN_LABELS_ENV_VAR} at a folder with every training case's clean "
                                    "label, beside the dataset's imagesTr (e.g. labelsTr_clean of nnunet-svl corrupt)")
            preprocessor = self.configuration_manager.preprocessor_class(verbose=False)
            _, clean, _ = preprocessor.run_case([str(p) for p in image_files], str(seg_file), self.plans_manager,
                                                self.configuration_manager, self.dataset_json)
            clean = np.asarray(clean, dtype=np.int16)
            given = self.given_label(case)
            if clean.shape != given.shape:
                raise SVLInputError(seg_file, f"preprocesses to shape {clean.shape}, the training case to "
                                    f"{given.shape}", "use clean labels of the same images")
            self._clean_cache[case] = clean
        return self._clean_cache[case]

    def _raw_image_files(self, images: Path, case: str) -> list[Path]:
        """The raw image files of ``case`` in ``images``, one per input channel (nnU-Net's ``_0000`` naming)."""
        channels = self.dataset_json.get("channel_names", self.dataset_json.get("modality", {"0": ""}))
        ending = self.dataset_json["file_ending"]
        return [images / f"{case}_{i:04d}{ending}" for i in range(len(channels))]

    def preprocessed_test_cases(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The test cases of :data:`TEST_SET_ENV_VAR` through nnU-Net's preprocessor: case → (input, label), cached."""
        if self.test_set_folder is None:
            return {}
        if not self._test_cache:
            ending = self.dataset_json["file_ending"]
            preprocessor = self.configuration_manager.preprocessor_class(verbose=False)
            for seg_file in sorted((self.test_set_folder / "labelsTs").glob(f"*{ending}")):
                case = seg_file.name[:-len(ending)]
                images = self._raw_image_files(self.test_set_folder / "imagesTs", case)
                missing = [p for p in images if not p.is_file()]
                if missing:
                    raise SVLInputError(missing[0], f"the image of test case {case} is missing",
                                        f"give every label of {seg_file.parent} its image in imagesTs/")
                data, seg, _ = preprocessor.run_case([str(p) for p in images], str(seg_file), self.plans_manager,
                                                     self.configuration_manager, self.dataset_json)
                self._test_cache[case] = np.asarray(data, dtype=np.float32), np.asarray(seg, dtype=np.int16)
        return self._test_cache

    # ------------------------------------------------------------------------------------------ memorisation
    @torch.no_grad()
    def memorisation_curves(self) -> dict[str, float]:
        """Foreground Dice of the network's whole-case predictions on the training cases (see module docstring)."""
        sums = {k: [0, 0, 0] for k in MEMORISATION_KEYS}   # 2·overlap, |pred| + |ref|, cases
        ignore = self.label_manager.ignore_label
        decoder = getattr(self.network.module if self.is_ddp else self.network, "decoder", None)
        had_ds = getattr(decoder, "deep_supervision", None)
        was_training = self.network.training
        self.network.eval()
        if had_ds is not None:
            self.set_deep_supervision_enabled(False)

        def segment(data: np.ndarray) -> np.ndarray:
            return sliding_window_maps(data, self.configuration_manager.patch_size,
                                       lambda x: {"logits": first_scale(self.network(x)).float()},
                                       self.device)["logits"].argmax(0)

        try:
            classes = LabelSpace.of(self.label_manager).classes
            tr_keys, _ = self.do_split()
            for case in sorted(tr_keys):
                data, given = self.preprocessed_case(case)
                clean = self.clean_label(case)
                pred = segment(data)
                valid = valid_voxels(given[0], ignore)
                noisy = bool((given[0][valid] != clean[0][valid]).any())
                pairs = [("mem_noisy_vs_given", given), ("mem_noisy_vs_clean", clean)] if noisy else \
                    [("mem_clean_vs_given", given)]
                for key, ref in pairs:
                    inter, total = foreground_dice(pred, ref[0], classes, valid)
                    sums[key][0] += inter
                    sums[key][1] += total
                    sums[key][2] += 1
            for data, label in self.preprocessed_test_cases().values():
                pred = segment(data)
                inter, total = foreground_dice(pred, label[0], classes, valid_voxels(label[0], ignore))
                sums["mem_test_vs_clean"][0] += inter
                sums["mem_test_vs_clean"][1] += total
                sums["mem_test_vs_clean"][2] += 1
        finally:
            if had_ds is not None:
                self.set_deep_supervision_enabled(had_ds)
            self.network.train(was_training)
        return {k: float("nan") if n == 0 else (1.0 if t == 0 else i / t) for k, (i, t, n) in sums.items()}

    def log_memorisation_curves(self, epoch: int) -> None:
        """Log the curves of ``epoch`` (the network as that epoch left it)."""
        if not self.diagnostics_enabled or self.local_rank != 0 or epoch < 0:
            return
        every = max(1, int(os.environ.get(MEMORISATION_EVERY_ENV_VAR, "1") or 1))
        measure = (epoch + 1) % every == 0 or epoch == self.num_epochs - 1
        values = self.memorisation_curves() if measure else dict.fromkeys(MEMORISATION_KEYS, float("nan"))
        for key, value in values.items():
            self.logger.log(key, value, epoch)

    # The curves of epoch e are measured at the start of epoch e + 1, before nnU-Net takes its start time (so time per
    # epoch excludes them), and for the last epoch before the final checkpoint is written. A checkpoint written at the
    # end of epoch e therefore holds the curves up to e − 1, and a resumed run measures epoch e first: the logger's
    # lists stay aligned with the epochs across --c.
    def on_epoch_start(self):
        self.log_memorisation_curves(self.current_epoch - 1)
        super().on_epoch_start()

    def on_train_end(self):
        if self.current_epoch == self.num_epochs:
            self.log_memorisation_curves(self.current_epoch - 1)
        super().on_train_end()

    # ------------------------------------------------------------------------------------------ label rounds
    def observe_round_case(self, case: str, before: np.ndarray, after: np.ndarray, omega: Optional[np.ndarray],
                           case_score: Optional[float], flagged: Optional[bool] = None,
                           repaired: Optional[bool] = None) -> None:
        if not self.diagnostics_enabled:
            return
        given = self.given_label(case)[0]
        valid = valid_voxels(given, self.label_manager.ignore_label)
        classes = LabelSpace.of(self.label_manager).classes
        self._round_records.append(case_record(given, before[0], after[0], self.clean_label(case)[0], classes, valid,
                                               omega=None if omega is None else omega[0], case_score=case_score,
                                               flagged=flagged, repaired=repaired))

    def finish_round_quality(self, round_index: int, kind: str) -> Optional[dict]:
        """Summarise the round's records over all ranks, log ``q_*`` scalars, append to svl_diagnostics.json."""
        if not self.diagnostics_enabled:
            return None
        records = self._round_records
        self._round_records = []
        if dist.is_available() and dist.is_initialized():
            gathered: list = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, records)
            records = [r for g in gathered for r in g]
        summary = summarise(records)
        headline = {"q_flip_precision_noisy": summary.get("flip_precision_noisy"),
                    "q_flip_precision_clean": summary.get("flip_precision_clean"),
                    "q_recall_noisy": summary.get("recall_noisy"),
                    "q_net_fixed_noisy": summary.get("net_fixed_noisy"),
                    "q_net_fixed_clean": summary.get("net_fixed_clean"),
                    "q_dice_in_force_noisy": _mean_class_dice(summary, "noisy"),
                    "q_dice_in_force_clean": _mean_class_dice(summary, "clean"),
                    "q_omega_auroc": summary.get("omega_auroc_voxels"),
                    "q_case_auroc": summary.get("case_score_auroc"),
                    "q_flag_precision": summary.get("flag_precision"),
                    "q_flag_recall": summary.get("flag_recall")}
        for key, value in headline.items():
            if value is not None:
                self.record_scalar(key, value)
        if self.local_rank == 0:
            path = Path(self.output_folder) / "svl_diagnostics.json"
            log = read_json(path, "svl_diagnostics.json") if path.is_file() else {"rounds": []}
            log["rounds"] = [r for r in log["rounds"] if r["round"] < round_index]  # a redone round replaces
            log["rounds"].append({"round": round_index, "kind": kind, "epoch": int(self.current_epoch), **summary})
            atomic_write_json(path, log)
        return summary
