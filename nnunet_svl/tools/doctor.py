"""``nnunet-svl doctor``: is this environment able to train and predict with the plugin's trainers?

Checks torch, torchvision (must match torch: nnU-Net's trainer lookup imports timm → torchvision, and a mismatched
pair breaks every ``-tr`` except ``nnUNetTrainer``), the nnU-Net version, ``nnUNet_extTrainer`` and a real trainer
lookup through nnU-Net's own function. Each problem is printed with its fix; exit status 1 if any check fails.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Callable

SETUP_HINT = "run `bash setup_env.sh && source .venv/bin/activate` from the nnunet_svl checkout"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _check(name: str, fn: Callable[[], str], fix: str) -> Check:
    try:
        return Check(name, True, fn())
    except Exception as e:  # the point of the doctor is to turn any failure into advice
        return Check(name, False, f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}", fix)


def _torch() -> str:
    import torch

    return f"{torch.__version__} (CUDA available: {torch.cuda.is_available()})"


def _torchvision() -> str:
    import torch
    import torchvision
    from torchvision.ops import nms

    nms(torch.zeros((1, 4)), torch.zeros(1), 0.5)  # fails when torchvision's C++ ops don't match torch
    return torchvision.__version__


def _timm() -> str:
    import timm

    return timm.__version__


def _nnunet() -> str:
    from importlib.metadata import version

    v = version("nnunetv2")
    parts = tuple(int(x) for x in v.split(".")[:3] if x.isdigit())
    if not ((2, 8, 1) <= parts < (2, 9)):
        raise RuntimeError(f"nnunetv2 {v} installed, nnunet_svl needs >= 2.8.1 and < 2.9")
    return v


def _ext_env() -> str:
    from nnunet_svl.tools.workspace import ext_trainer_dir

    want = str(ext_trainer_dir())
    have = [os.path.realpath(p) for p in os.environ.get("nnUNet_extTrainer", "").split(os.pathsep) if p]
    if os.path.realpath(want) not in have:
        raise RuntimeError(f"nnUNet_extTrainer does not contain {want}")
    return want


def _lookup() -> str:
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        cls = recursive_find_trainer_class_by_name("nnUNetTrainerSVLBase_tiny")
    return f"nnUNetv2_train -tr finds {cls.__module__}.{cls.__name__}"


def _nnunet_paths() -> str:
    missing = [v for v in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results") if not os.environ.get(v)]
    if missing:
        return f"not set: {', '.join(missing)} (needed for your own datasets; `nnunet-svl demo` uses its own)"
    return "nnUNet_raw, nnUNet_preprocessed, nnUNet_results set"


def collect_checks() -> list[Check]:
    from nnunet_svl.tools.workspace import ext_trainer_dir

    ext = ext_trainer_dir()
    return [
        Check("python", sys.version_info >= (3, 10), sys.version.split()[0], "use Python 3.10 or newer"),
        _check("torch", _torch, SETUP_HINT),
        _check("torchvision", _torchvision,
               "install a torchvision built for your torch, e.g. `pip install torch==2.14.1 torchvision==0.29.1` "
               "(x86-64); setup_env.sh does this"),
        _check("timm", _timm, "pip install timm (nnU-Net's trainer lookup imports it)"),
        _check("nnunetv2", _nnunet, "pip install 'nnunetv2>=2.8.1,<2.9'"),
        _check("nnUNet_extTrainer", _ext_env,
               f"source .venv/bin/activate (setup_env.sh adds it), or export nnUNet_extTrainer={ext}"),
        _check("trainer lookup", _lookup, f"fix the checks above; the folder to name is {ext}"),
        Check("nnU-Net folders", True, _nnunet_paths()),
    ]


def run_doctor(verbose: bool = True) -> int:
    checks = collect_checks()
    for c in checks:
        if verbose or not c.ok:
            print(f"[{'ok' if c.ok else 'FAIL'}] {c.name}: {c.detail}")
            if not c.ok:
                print(f"       fix: {c.fix}")
    bad = [c for c in checks if not c.ok]
    print("all good" if not bad else f"{len(bad)} problem(s) found")
    return 0 if not bad else 1
