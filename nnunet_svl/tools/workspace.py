"""nnU-Net folders (raw / preprocessed / results) and the environment the nnU-Net commands need."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from nnunet_svl.runtime.errors import SVLInputError

NNUNET_DIRS = ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")


def ext_trainer_dir() -> Path:
    """The folder nnU-Net's ``nnUNet_extTrainer`` must name (it re-exports this package's trainers)."""
    import nnunet_svl.ext_trainers as ext

    return Path(ext.__path__[0]).resolve()


def _root_from_env(var: str) -> Path:
    value = os.environ.get(var)
    if not value:
        raise SVLInputError(None, f"the environment variable {var} is not set",
                            f"export {var}=/path/to/folder, or pass the folder explicitly")
    return Path(value)


def raw_root_from_env() -> Path:
    return _root_from_env("nnUNet_raw")


def preprocessed_root_from_env() -> Path:
    return _root_from_env("nnUNet_preprocessed")


def results_root_from_env() -> Path:
    return _root_from_env("nnUNet_results")


def with_ext_trainer(env: dict) -> dict:
    """Add this package's trainer folder to ``nnUNet_extTrainer`` in ``env`` (a copy is returned)."""
    env = dict(env)
    ext = str(ext_trainer_dir())
    parts = [p for p in env.get("nnUNet_extTrainer", "").split(os.pathsep) if p]
    if ext not in parts:
        parts.append(ext)
    env["nnUNet_extTrainer"] = os.pathsep.join(parts)
    return env


def workspace_env(workspace: Path, base: Optional[dict] = None) -> dict:
    """Environment for running nnU-Net's commands inside ``workspace`` (raw/, preprocessed/, results/)."""
    env = dict(os.environ if base is None else base)
    for var, sub in zip(NNUNET_DIRS, ("raw", "preprocessed", "results")):
        (workspace / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str((workspace / sub).resolve())
    return with_ext_trainer(env)
