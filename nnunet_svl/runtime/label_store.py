"""Per-run, per-fold label store (docs/METHOD.md §1.2 "Dynamic iterative label update", §2.2 voxel loss history).

Holds, per training case and in nnU-Net's *preprocessed* geometry, the current (corrected) label and, for DALE, the
per-voxel label confidence ω, the fuzzy membership m and the loss statistics. The given annotation is never touched.

Layout (``<nnUNet_results>/<dataset>/<trainer>__<plans>__<config>/fold_K/label_store/``)::

    manifest.json            the committed state: {"round": r, "cases": {case: "r0003"}, "history": [...]}
    manifest_r0003.json      snapshot of the manifest as committed by round 3 (kept so a resume can roll back)
    r0003/<case>.b2nd        one int16 blosc2 array (channels, *spatial): the label [+ ω and m as weight codes,
                             :func:`encode_weight_channel`], chunked for the training patch like nnU-Net's own
                             ``_seg.b2nd`` (``comp_blosc2_params``), so the data loader reads only the patch it crops
                             (:meth:`LabelStore.open_case`) instead of decompressing the whole case for every sample
    r0003/<case>_stats.npz   DALE loss statistics (float16 mean/var, uint16 count), each array blosc2-packed in
                             an uncompressed npz (read whole, in rounds only)

Stores written before the blosc2 layout (``r0003/<case>.npz``: label int16, omega/fuzzy float16) are still read.

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

from nnunet_svl.runtime.atomic_io import atomic_savez, atomic_write_bytes, atomic_write_json
from nnunet_svl.runtime.errors import SVLInputError
from nnunet_svl.runtime.failpoints import failpoint
from nnunet_svl.runtime.jsonio import read_json

MANIFEST = "manifest.json"
_FIX_STORE = "delete the label_store folder of this fold and retrain, or restore it"
CASE_SUFFIX = ".b2nd"
LEGACY_SUFFIX = ".npz"
WEIGHT_CODE_SCALE = 1000.0
WEIGHT_CODE_MAX = 32767
DEFAULT_PATCH = (128, 128, 128)     # chunking when the store does not know the patch (nnU-Net's own fallback)
# fast compression (a label round writes every case; labels and codes compress well anyway); blosc2's default
# filter (byte shuffle)
STORE_CLEVEL = 1
_PACKED_MARK = "__blosc2_packed__"     # stats npz whose arrays are blosc2-packed (zlib took 0.65 s per 128³ case)


def encode_weight_channel(values: np.ndarray) -> np.ndarray:
    """Float weights in [0, 32.7] → int16 codes ≥ 1 (resolution 0.001; code 0 is reserved for "no information":
    padding outside the image, decoded to the channel's neutral value by the data path)."""
    codes = np.rint(np.asarray(values, dtype=np.float32) * WEIGHT_CODE_SCALE) + 1
    return np.clip(codes, 1, WEIGHT_CODE_MAX).astype(np.int16)


def decode_weight_codes(codes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_weight_channel` for stored codes (all ≥ 1), as float32."""
    return (np.asarray(codes, dtype=np.float32) - 1).clip(min=0) / WEIGHT_CODE_SCALE


def _round_dir_name(round_index: int) -> str:
    return f"r{round_index:04d}"


@dataclass
class StoredCase:
    """What the store holds for one case (arrays in preprocessed geometry, leading channel axis of 1)."""

    label: np.ndarray
    omega: Optional[np.ndarray] = None
    fuzzy: Optional[np.ndarray] = None


class LabelStore:
    def __init__(self, root: str | os.PathLike, patch_size: Optional[Sequence[int]] = None):
        """``patch_size``: the training patch (spatial), for the blosc2 chunking of the stored cases."""
        self.root = Path(root)
        self.patch_size = tuple(int(p) for p in patch_size) if patch_size is not None else None
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
        if stats:
            return self.root / where / f"{case}_stats.npz"
        path = self.root / where / f"{case}{CASE_SUFFIX}"
        legacy = self.root / where / f"{case}{LEGACY_SUFFIX}"
        return legacy if not path.is_file() and legacy.is_file() else path

    def open_case(self, case: str):
        """The committed entry as a lazily read blosc2 array ``(channels, *spatial)`` int16 and its channel names
        (``label`` [, ``omega``, ``fuzzy``] — weights as codes), or None when the store has no entry or holds it in
        the older npz layout. Slicing it decompresses only the chunks the slice touches."""
        import blosc2

        path = self.case_file(case)
        if path is None or path.suffix != CASE_SUFFIX:
            return None
        arr = blosc2.open(urlpath=str(path), mode="r", dparams={"nthreads": 1},
                          **({} if os.name == "nt" else {"mmap_mode": "r"}))
        return arr, list(arr.schunk.vlmeta["channels"])

    def load(self, case: str) -> Optional[StoredCase]:
        """The committed entry for ``case``, or None when the store has none (then the given label is in force)."""
        path = self.case_file(case)
        if path is None:
            return None
        if path.suffix == LEGACY_SUFFIX:
            with np.load(path) as z:
                return StoredCase(label=z["label"],
                                  omega=z["omega"] if "omega" in z.files else None,
                                  fuzzy=z["fuzzy"] if "fuzzy" in z.files else None)
        arr, channels = self.open_case(case)
        full = arr[:]
        parts = {name: full[i:i + 1] for i, name in enumerate(channels)}
        return StoredCase(label=parts["label"],
                          omega=decode_weight_codes(parts["omega"]).astype(np.float16) if "omega" in parts else None,
                          fuzzy=decode_weight_codes(parts["fuzzy"]).astype(np.float16) if "fuzzy" in parts else None)

    def load_stats(self, case: str) -> Optional[dict[str, np.ndarray]]:
        path = self.case_file(case, stats=True)
        if path is None or not path.is_file():
            return None
        with np.load(path) as z:
            if _PACKED_MARK not in z.files:                  # written before the blosc2 layout: zlib npz
                return {k: z[k] for k in z.files}
            import blosc2

            return {k: blosc2.unpack_tensor(z[k].tobytes()) for k in z.files if k != _PACKED_MARK}

    # ----------------------------------------------------------------------------------------------- writing
    def stage_case(self, round_index: int, case: str, label: np.ndarray, omega: Optional[np.ndarray] = None,
                   fuzzy: Optional[np.ndarray] = None, stats: Optional[dict[str, np.ndarray]] = None) -> None:
        """Write one case of round ``round_index`` (invisible to readers until :meth:`commit_round`)."""
        if round_index <= self.current_round:
            raise ValueError(f"round {round_index} is not newer than the committed round {self.current_round}")
        import blosc2
        from nnunetv2.training.dataloading.nnunet_dataset import comp_blosc2_params

        d = self.root / _round_dir_name(round_index)
        label = np.asarray(label, dtype=np.int16)
        label = label if label.ndim >= 2 and label.shape[0] == 1 else label[None]
        channels, names = [label], ["label"]
        for name, values in (("omega", omega), ("fuzzy", fuzzy)):
            if values is not None:
                channels.append(encode_weight_channel(np.asarray(values).reshape(label.shape)))
                names.append(name)
        stacked = np.ascontiguousarray(np.concatenate(channels, axis=0))
        patch = self.patch_size or DEFAULT_PATCH[:stacked.ndim - 1]
        blocks, chunks = comp_blosc2_params(stacked.shape, patch, bytes_per_pixel=stacked.itemsize)
        cparams = {"codec": blosc2.Codec.ZSTD, "clevel": STORE_CLEVEL}
        arr = blosc2.asarray(stacked, chunks=chunks, blocks=blocks, cparams=cparams)
        arr.schunk.vlmeta["channels"] = names
        atomic_write_bytes(d / f"{case}{CASE_SUFFIX}", arr.to_cframe())
        if stats is not None:
            packed = {k: np.frombuffer(blosc2.pack_tensor(np.ascontiguousarray(v), cparams=cparams), np.uint8)
                      for k, v in stats.items()}
            atomic_savez(d / f"{case}_stats.npz", compressed=False, **packed, **{_PACKED_MARK: np.zeros(0, np.uint8)})
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
        missing = [c for c in cases if not (self.root / d / f"{c}{CASE_SUFFIX}").is_file()]
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
