"""Command-line edges: --fold accepts 0-4 and 'all' (audit, benchmark); a bad fold is argparse's one-line error."""
import subprocess
import sys

import pytest

from nnunet_svl.tools.benchmark import PRESETS
from nnunet_svl.tools.cli import fold_arg


def test_fold_arg():
    assert fold_arg("all") == "all" and fold_arg("3") == 3
    with pytest.raises(Exception, match="not a fold"):
        fold_arg("three")


def test_bad_fold_is_a_one_line_error():
    out = subprocess.run([sys.executable, "-m", "nnunet_svl.tools.cli", "audit", "/nonexistent", "--fold", "x"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "not a fold" in out.stderr and "Traceback" not in out.stderr


def test_default_preset_is_the_noise_regime():
    p = PRESETS["cpu"]
    assert (p.n_train, p.n_test, p.fold, p.budget) == (24, 20, "all", "bench")
    assert PRESETS["cpu40"].n_train == 12


def test_every_option_has_help_and_protocols_list_their_choices():
    import argparse

    from nnunet_svl.tools.cli import build_parser
    from nnunet_svl.tools.noise import PROTOCOLS

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"nnunet-svl {name} {action.option_strings or action.dest}: no help text"
            if action.dest in ("protocol", "protocols"):
                assert list(action.choices) == list(PROTOCOLS), (name, action.dest)


def test_benchmark_protocols_option_without_a_protocol_means_clean_labels_only():
    from nnunet_svl.tools.cli import build_parser

    parse = build_parser().parse_args
    assert parse(["benchmark", "--workspace", "w", "--protocols"]).protocols == []
    assert parse(["benchmark", "--workspace", "w"]).protocols == ["mt", "dilate"]
    assert parse(["benchmark", "--workspace", "w", "--protocols", "markov"]).protocols == ["markov"]


def test_full_preset_on_cpu_warns():
    from nnunet_svl.tools.benchmark import preset_warning

    assert "days per model" in preset_warning("full", "cpu")
    assert preset_warning("full", "cuda") is None and preset_warning("cpu", "cpu") is None


def test_a_failed_nnunet_step_is_a_one_line_error(monkeypatch, capsys):
    from nnunet_svl.tools import cli
    from nnunet_svl.tools.pipeline import StepFailed

    def failing(args):
        raise StepFailed("train_990 failed (exit 1); see /ws/logs/train_990.log\n...last lines of the log...")

    monkeypatch.setattr(cli, "_cmd_doctor", failing)
    assert cli.main(["doctor"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: train_990 failed (exit 1); see /ws/logs/train_990.log") and "Traceback" not in err
