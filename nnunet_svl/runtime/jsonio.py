"""Reading a JSON file with a clear error: the one reader every module uses for user-facing JSON (dataset.json,
config overrides, the label store's manifest) [ours]. Errors name the file, the problem and the fix
(:class:`nnunet_svl.runtime.errors.SVLInputError`), never a raw ``JSONDecodeError``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nnunet_svl.runtime.errors import SVLInputError


def read_json(path, what: str = "file", fix_missing: str = "create it", fix_invalid: str = "fix the JSON syntax",
              want_object: bool = True, missing: str = "is missing") -> Any:
    """The parsed content of ``path``. ``what`` names the file in messages ("dataset.json", "config file", ...);
    ``fix_*`` say what to do, ``missing`` how a missing file is described. A missing file, invalid JSON, or (``want_object``) anything but a JSON object raise
    :class:`SVLInputError` naming ``path``."""
    p = Path(path)
    if not p.is_file():
        raise SVLInputError(p, f"{what} {missing}", fix_missing)
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f" at line {e.lineno}" if isinstance(e, json.JSONDecodeError) else ""
        raise SVLInputError(p, f"{what} is not valid JSON ({getattr(e, 'msg', e)}{where})", fix_invalid) from None
    if want_object and not isinstance(data, dict):
        raise SVLInputError(p, f"{what} must hold a JSON object", 'write {"key": value, ...}')
    return data
