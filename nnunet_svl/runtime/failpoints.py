"""Fault injection for the crash-safety tests: ``NNUNET_SVL_FAILPOINT=<name>[:<round>]`` makes the process SIGKILL
itself when it reaches that point (optionally only in that label round), exactly as an out-of-memory kill or a
pulled plug would stop it. Unset (always, outside tests), a failpoint costs one dictionary lookup.

Points: ``label-store-staged`` (a case of a round was written, the round is not committed), ``label-store-committed``
(the manifest names the new round, the trainer has not checkpointed it yet).
"""
from __future__ import annotations

import os
import signal
from typing import Optional

FAILPOINT_ENV = "NNUNET_SVL_FAILPOINT"


def failpoint(name: str, round_index: Optional[int] = None) -> None:
    wanted = os.environ.get(FAILPOINT_ENV)
    if not wanted:
        return
    if wanted == name or (round_index is not None and wanted == f"{name}:{round_index}"):
        os.kill(os.getpid(), signal.SIGKILL)
