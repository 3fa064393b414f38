"""The training seed of a benchmark run (``NNUNET_SVL_TRAIN_SEED``) [ours].

nnU-Net does not seed its training. The benchmark's ``--seeds`` varies the noise and the training seed together, so
every trainer it runs (the plugin's and the stock baseline's budget variants) seeds Python's, NumPy's and torch's
global generators from this variable when it is set; without it nothing is seeded, exactly as in nnU-Net. (CPU
training with several threads is still not bit-reproducible; the seed makes runs of one seed comparable, not equal.)
"""
from __future__ import annotations

import os
import random
from typing import Optional

import numpy as np
import torch

from nnunet_svl.runtime.errors import SVLInputError

TRAIN_SEED_ENV_VAR = "NNUNET_SVL_TRAIN_SEED"


def train_seed_from_env(environ: Optional[dict] = None) -> Optional[int]:
    """The seed named by ``NNUNET_SVL_TRAIN_SEED`` (None when unset); a non-integer is a clear error."""
    value = (os.environ if environ is None else environ).get(TRAIN_SEED_ENV_VAR, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise SVLInputError(TRAIN_SEED_ENV_VAR, f"is {value!r}, not an integer",
                            f"set {TRAIN_SEED_ENV_VAR} to an integer or unset it") from None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def apply_train_seed(environ: Optional[dict] = None) -> Optional[int]:
    """Seed the global generators from the environment, if the variable is set; return the seed."""
    seed = train_seed_from_env(environ)
    if seed is not None:
        seed_everything(seed)
    return seed
