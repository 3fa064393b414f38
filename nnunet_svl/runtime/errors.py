"""User-facing errors.

Every problem with a user's input (dataset, config, checkpoint) is raised as :class:`SVLInputError` with a one-line
message that names the offending file and says how to fix it. The CLI prints it as ``error: ...`` and exits with
status 2; it is never turned into a traceback from deep inside nnU-Net.
"""
from __future__ import annotations

from pathlib import Path
from typing import Union


class SVLInputError(Exception):
    """Bad input. ``str(err)`` is a single line: '<file>: <problem>. Fix: <what to do>'."""

    def __init__(self, path: Union[str, Path, None], problem: str, fix: str):
        self.path = None if path is None else str(path)
        self.problem = problem.rstrip(".")
        self.fix = fix.rstrip(".")
        where = f"{self.path}: " if self.path else ""
        super().__init__(f"{where}{self.problem}. Fix: {self.fix}.")
