"""Per-run, per-fold label store (docs/METHOD.md §1.2 "Dynamic iterative label update", §2.2 voxel loss history).

Holds, per training case and in nnU-Net's *preprocessed* geometry, the current (corrected) label and, for DALE, the
per-voxel label confidence ω, the fuzzy membership m and the loss statistics. The given annotation is never touched.

Layout (``<nnUNet_results>/<dataset>/<trainer>__<plans>__<config>/fold_K/label_store/``)::

    manifest.json            the committed state: {"round": r, "cases": {case: "r0003"}, "history": [...]}
    manifest_r0003.json      snapshot of the manifest as committed by round 3 (kept so a resume can roll back)
    r0003/<case>.npz         label (int16, shape (1, *spatial)) [+ omega, fuzzy (float16)]
    r0003/<case>_stats.npz   DALE loss statistics (float16 mean/var, uint16 count)

A round is staged case by case (each file written atomically) and becomes visible only when
:meth:`LabelStore.commit_round` atomically replaces ``manifest.json``. A run killed half-way through a round leaves the
previous manifest in force, so the round is neither half-applied nor applied twice: on resume the trainer calls
:meth:`LabelStore.restore_round` with the round stored in its checkpoint, which also discards newer rounds.
Readers (data-loader worker processes) re-read the manifest whenever its modification time changes.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from nnunet_svl.runtime.atomic_io import atomic_savez, atomic_write_json
from nnunet_svl.runtime.errors import SVLInputError
from nnunet_svl.runtime.failpoints import failpoint
from nnunet_svl.runtime.jsonio import read_json

MANIFEST = "manifest.json"
_FIX_STORE = "delete the label_store folder of this fold and retrain, or restore it"


def _round_dir_name(round_index: int) -> str:
    return f"r{round_index:04d}"


@dataclass
class StoredCase:
    """What the store holds for one case (arrays in preprocessed geometry, leading channel axis of 1)."""

    label: np.ndarray
    omega: Optional[np.ndarray] = None
    fuzzy: Optional[np.ndarray] = None


class LabelStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._manifest_cache: Optional[dict] = None
        self._manifest_mtime: Optional[tuple] = None

    # ----------------------------------------------------------------------------------------------- manifest
    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def manifest(self) -> dict:
        """The committed manifest (cached; re-read when the file changes)."""
        try:
            st = self.manifest_path.stat()
            mtime = (st.st_ino, st.st_mtime_ns, st.st_size)  # os.replace gives a new inode on every commit
        except FileNotFoundError:
            self._manifest_cache, self._manifest_mtime = None, None
            return {"round": 0, "cases": {}, "history": []}
        if self._manifest_cache is None or mtime != self._manifest_mtime:
            self._manifest_cache = read_json(self.manifest_path, "label store manifest", fix_invalid=_FIX_STORE)
            self._manifest_mtime = mtime
        return self._manifest_cache

    @property
    def current_round(self) -> int:
        return int(self.manifest()["round"])

    def history(self) -> list[dict]:
        return list(self.manifest().get("history", []))

    def has(self, case: str) -> bool:
        return case in self.manifest()["cases"]

    # ----------------------------------------------------------------------------------------------- reading
    def case_file(self, case: str, stats: bool = False) -> Optional[Path]:
        where = self.manifest()["cases"].get(case)
        if where is None:
            return None
        return self.root / where / (f"{case}_stats.npz" if stats else f"{case}.npz")

    def load(self, case: str) -> Optional[StoredCase]:
        """The committed entry for ``case``, or None when the store has none (then the given label is in force)."""
        path = self.case_file(case)
        if path is None:
            return None
        with np.load(path) as z:
            return StoredCase(label=z["label"],
                              omega=z["omega"] if "omega" in z.files else None,
                              fuzzy=z["fuzzy"] if "fuzzy" in z.files else None)

    def load_stats(self, case: str) -> Optional[dict[str, np.ndarray]]:
        path = self.case_file(case, stats=True)
        if path is None or not path.is_file():
            return None
        with np.load(path) as z:
            return {k: z[k] for k in z.files}

    # ----------------------------------------------------------------------------------------------- writing
    def stage_case(self, round_index: int, case: str, label: np.ndarray, omega: Optional[np.ndarray] = None,
                   fuzzy: Optional[np.ndarray] = None, stats: Optional[dict[str, np.ndarray]] = None) -> None:
        """Write one case of round ``round_index`` (invisible to readers until :meth:`commit_round`)."""
        if round_index <= self.current_round:
            raise ValueError(f"round {round_index} is not newer than the committed round {self.current_round}")
        d = self.root / _round_dir_name(round_index)
        arrays: dict[str, np.ndarray] = {"label": np.asarray(label, dtype=np.int16)}
        if omega is not None:
            arrays["omega"] = np.asarray(omega, dtype=np.float16)
        if fuzzy is not None:
            arrays["fuzzy"] = np.asarray(fuzzy, dtype=np.float16)
        atomic_savez(d / f"{case}.npz", **arrays)
        if stats is not None:
            atomic_savez(d / f"{case}_stats.npz", **stats)
        failpoint("label-store-staged", round_index)

    def excluded_cases(self) -> frozenset:
        """Cases the data loader should not train on as of the committed round (the teacher gate's flags when
        ``flagged_case_sampling`` < 1); empty when none."""
        return frozenset(self.manifest().get("sampling_excluded", ()))

    def commit_round(self, round_index: int, cases: list[str], summary: Optional[dict[str, Any]] = None,
                     excluded: Optional[Sequence[str]] = None) -> dict:
        """Make round ``round_index`` (the ``cases`` staged for it) the committed state, atomically. ``excluded``
        replaces the set of cases the data loader skips (None keeps the previous round's)."""
        m = self.manifest()
        if round_index != int(m["round"]) + 1:
            raise ValueError(f"cannot commit round {round_index} on top of round {m['round']}")
        d = _round_dir_name(round_index)
        missing = [c for c in cases if not (self.root / d / f"{c}.npz").is_file()]
        if missing:
            raise RuntimeError(f"round {round_index}: cases staged incompletely: {missing[:5]}")
        new = {
            "round": round_index,
            "cases": {**m["cases"], **{c: d for c in cases}},
            "history": list(m.get("history", [])) + [{"round": round_index, "time": time.time(),
                                                       "n_cases": len(cases), **(summary or {})}],
        }
        kept = sorted(excluded) if excluded is not None else m.get("sampling_excluded")
        if kept:
            new["sampling_excluded"] = list(kept)
        atomic_write_json(self.root / f"manifest_{d}.json", new)
        atomic_write_json(self.manifest_path, new)
        self._manifest_cache = None
        self._prune(keep=new)
        failpoint("label-store-committed", round_index)
        return new

    def restore_round(self, round_index: int) -> None:
        """Put the store back to the state committed by ``round_index`` (0 = empty) and drop newer rounds.

        Used when resuming from a checkpoint: the label store must match the checkpoint exactly.
        """
        if round_index == 0:
            state = {"round": 0, "cases": {}, "history": []}
        else:
            snap = self.root / f"manifest_{_round_dir_name(round_index)}.json"
            if not snap.is_file():
                raise SVLInputError(snap, f"the checkpoint expects label-store round {round_index}, which is missing",
                                    "restore the fold's label_store folder, or start this fold again without --c")
            state = read_json(snap, "label store snapshot", fix_invalid=_FIX_STORE)
        if state != self.manifest():
            atomic_write_json(self.manifest_path, state)
            self._manifest_cache = None
        self._prune(keep=state, drop_newer_than=round_index)

    def _prune(self, keep: dict, drop_newer_than: Optional[int] = None) -> None:
        """Delete round data no longer needed.

        Kept: what the committed manifest and the previous round's snapshot refer to (a resume may roll back one
        round: the trainer checkpoints right after each commit). On restore, everything newer is dropped too.
        """
        if not self.root.is_dir():
            return
        newest = int(keep["round"])
        referenced = set(keep["cases"].values())
        prev = self.root / f"manifest_{_round_dir_name(newest - 1)}.json"
        if newest > 1 and prev.is_file():
            referenced |= set(read_json(prev, "label store snapshot", fix_invalid=_FIX_STORE)["cases"].values())
        for p in self.root.iterdir():
            if p.is_dir() and p.name.startswith("r") and p.name[1:].isdigit():
                r = int(p.name[1:])
                if (drop_newer_than is not None and r > drop_newer_than) or (p.name not in referenced and r < newest):
                    shutil.rmtree(p, ignore_errors=True)
            elif p.name.startswith("manifest_r") and p.suffix == ".json" and p.stem[len("manifest_r"):].isdigit():
                r = int(p.stem[len("manifest_r"):])
                if (drop_newer_than is not None and r > drop_newer_than) or r < newest - 1:
                    p.unlink(missing_ok=True)
