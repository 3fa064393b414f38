"""The architecture rule the tree shows: training (trainers, parts, algorithm modules, runtime) never imports the
command-line tools. Checked in a fresh interpreter, on what nnU-Net imports when it looks up a trainer."""
from __future__ import annotations

import json
import subprocess
import sys


def test_training_never_imports_tools():
    code = ("import sys, json; import nnunet_svl.ext_trainers.nnunet_svl_trainers; "
            "import nnunet_svl.trainers.method, nnunet_svl.dale.part, nnunet_svl.rl.part; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('nnunet_svl'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    assert "nnunet_svl.trainers.method" in loaded and "nnunet_svl.runtime.label_store" in loaded
    assert not [m for m in loaded if m.startswith("nnunet_svl.tools")], loaded


def test_every_trainer_is_listed_with_a_description():
    from nnunet_svl.trainers.registry import TRAINERS, describe_trainers

    rows = dict(describe_trainers(include_budgets=True))
    assert set(rows) == set(TRAINERS)
    assert all(len(what) > 20 for what in rows.values())
    short = dict(describe_trainers())
    assert "nnUNetTrainerSVLDRL" in short and "nnUNetTrainerSVLDRL_bench" not in short
