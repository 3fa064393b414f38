"""Atomic file writes: write to a temporary file in the target folder, fsync, then ``os.replace``.

A reader (or a run resumed after SIGKILL) sees either the old file or the complete new one, never a torn file.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Union

import numpy as np

PathLike = Union[str, Path]


def _atomic_write(path: PathLike, write: Callable[[io.BufferedWriter], None]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    _atomic_write(path, lambda f: f.write(data))


def atomic_write_json(path: PathLike, obj: Any, indent: int = 2) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=indent, sort_keys=False) + "\n").encode("utf-8"))


def atomic_savez(path: PathLike, compressed: bool = True, **arrays: np.ndarray) -> None:
    """``np.savez[_compressed]`` to exactly ``path`` (no '.npz' appended), atomically."""
    saver = np.savez_compressed if compressed else np.savez
    _atomic_write(path, lambda f: saver(f, **arrays))


def atomic_torch_save(path: PathLike, obj: Any) -> None:
    import torch

    _atomic_write(path, lambda f: torch.save(obj, f))
