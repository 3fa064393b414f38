"""Paired statistics of the benchmark (nnunet_svl.tools.stats) and the aggregated report, on hand-checked numbers.
No nnU-Net training here: the report is fed fake RunResults."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from nnunet_svl.tools.stats import (cluster_bootstrap, compare_to_baseline, interval_marker, paired_differences,
                                    pooled_mean_sd, t_interval)

# The worked example: 2 seeds × 3 test cases (a, b, c), Dice of the baseline and of a method.
BASE = {0: {"a": 0.80, "b": 0.70, "c": 0.60}, 1: {"a": 0.75, "b": 0.65, "c": 0.90}}
METH = {0: {"a": 0.82, "b": 0.74, "c": 0.60}, 1: {"a": 0.76, "b": 0.66, "c": 0.93}}
# paired differences in Dice points: seed 0: 2, 4, 0; seed 1: 1, 1, 3 (n = 6)
#   mean = 11 / 6 = 1.833333
#   sum of squares about the mean = (4 + 16 + 0 + 1 + 1 + 9) − 6 · (11/6)² = 31 − 20.166667 = 10.833333
#   sd = sqrt(10.833333 / 5) = sqrt(2.166667) = 1.471960;  se = sd / sqrt(6) = 0.600925
#   t_{0.975, 5} = 2.570582 (table);  half width = 2.570582 · 0.600925 = 1.544727
#   95 % t-interval = [1.833333 − 1.544727, 1.833333 + 1.544727] = [0.288606, 3.378060]
HAND_MEAN, HAND_LOW, HAND_HIGH = 1.833333, 0.288606, 3.378060


def test_paired_differences_pairs_by_seed_and_case_id():
    d = paired_differences(METH, BASE)
    assert sorted(d) == [0, 1]
    np.testing.assert_allclose(d[0] * 100, [2, 4, 0], atol=1e-9)
    np.testing.assert_allclose(d[1] * 100, [1, 1, 3], atol=1e-9)
    # case order does not matter when cases are named; a case or seed only one side has is left out
    shuffled = {0: {"c": 0.60, "a": 0.82, "b": 0.74, "z": 0.1}, 1: METH[1], 7: {"a": 0.5}}
    d2 = paired_differences(shuffled, BASE)
    assert sorted(d2) == [0, 1]
    np.testing.assert_allclose(sorted(d2[0] * 100), [0, 2, 4], atol=1e-9)


def test_t_interval_matches_the_hand_computation():
    mean, low, high, n = t_interval({s: d * 100 for s, d in paired_differences(METH, BASE).items()})
    assert n == 6
    assert mean == pytest.approx(HAND_MEAN, abs=1e-5)
    assert low == pytest.approx(HAND_LOW, abs=1e-5)
    assert high == pytest.approx(HAND_HIGH, abs=1e-5)
    assert interval_marker(low, high) == "above 0"


def test_nan_dice_is_dropped_pairwise():
    meth = {0: {"a": 0.82, "b": float("nan"), "c": 0.60}, 1: METH[1]}
    base = {0: BASE[0], 1: {**BASE[1], "c": None}}
    d = paired_differences(meth, base)
    np.testing.assert_allclose(d[0] * 100, [2, 0], atol=1e-9)   # case b dropped (method NaN)
    np.testing.assert_allclose(d[1] * 100, [1, 1], atol=1e-9)   # case c dropped (baseline missing)
    # d = 2, 0, 1, 1: mean 1, sd sqrt(2/3) = 0.816497, se 0.408248, t_{0.975,3} = 3.182446 -> half 1.299228
    mean, low, high, n = t_interval({s: v * 100 for s, v in d.items()})
    assert (n, mean) == (4, pytest.approx(1.0))
    assert (low, high) == (pytest.approx(1 - 1.299228, abs=1e-5), pytest.approx(1 + 1.299228, abs=1e-5))
    # a seed whose every pair is dropped is gone, not an empty array
    assert paired_differences({0: {"a": float("nan")}}, {0: {"a": 0.5}}) == {}


def test_position_pairing_and_its_errors():
    d = paired_differences({0: [0.5, 0.6]}, {0: [0.4, 0.6]})
    np.testing.assert_allclose(d[0], [0.1, 0.0], atol=1e-12)
    with pytest.raises(ValueError):
        paired_differences({0: [0.5, 0.6]}, {0: [0.4]})
    with pytest.raises(TypeError):
        paired_differences({0: [0.5]}, {0: {"a": 0.4}})


def test_one_seed_one_case_gives_no_interval():
    # a single paired difference: the mean is that difference, and there is no spread -> both intervals NaN
    d = paired_differences({3: {"a": 0.9}}, {3: {"a": 0.8}})
    mean, low, high, n = t_interval({s: v * 100 for s, v in d.items()})
    assert n == 1 and mean == pytest.approx(10.0)
    assert math.isnan(low) and math.isnan(high)
    assert all(math.isnan(v) for v in cluster_bootstrap(d))
    assert interval_marker(low, high) == "n/a"
    # nothing at all
    assert t_interval({})[3] == 0 and math.isnan(t_interval({})[0])


def test_equal_differences_give_a_one_point_interval():
    mean, low, high, n = t_interval([0.5, 0.5, 0.5])
    assert (mean, low, high, n) == (0.5, 0.5, 0.5, 3)
    assert cluster_bootstrap({0: np.array([0.5, 0.5]), 1: np.array([0.5])}) == (0.5, 0.5)
    assert interval_marker(low, high) == "above 0"


def test_interval_marker():
    assert interval_marker(0.1, 2.0) == "above 0"
    assert interval_marker(-2.0, -0.1) == "below 0"
    assert interval_marker(-1.0, 1.0) == "includes 0"
    assert interval_marker(0.0, 1.0) == "includes 0"
    assert interval_marker(float("nan"), 1.0) == "n/a"


def test_cluster_bootstrap_by_hand_and_reproducible():
    # one seed, cases [0, 1]: a resample's mean is 0, 0.5 or 1 with probability 1/4, 1/2, 1/4
    # -> the 2.5 % and 97.5 % quantiles are 0 and 1
    assert cluster_bootstrap({0: np.array([0.0, 1.0])}) == (0.0, 1.0)
    # two seeds of one case each: the same distribution, from the seed level alone
    assert cluster_bootstrap({0: np.array([0.0]), 1: np.array([1.0])}) == (0.0, 1.0)
    # the worked example: a fixed RNG seed gives the same interval every time; it lies within the data's range
    # and contains the mean
    d = {s: v * 100 for s, v in paired_differences(METH, BASE).items()}
    low, high = cluster_bootstrap(d)
    assert (low, high) == cluster_bootstrap(d)
    assert 0.0 <= low < HAND_MEAN < high <= 4.0


def test_compare_to_baseline_and_pooled_mean():
    cmp = compare_to_baseline(METH, BASE, scale=100.0)
    assert cmp["n_pairs"] == 6 and cmp["n_seeds"] == 2 and cmp["seeds"] == [0, 1]
    assert cmp["mean_diff"] == pytest.approx(HAND_MEAN, abs=1e-5)
    assert cmp["t_interval"] == [pytest.approx(HAND_LOW, abs=1e-5), pytest.approx(HAND_HIGH, abs=1e-5)]
    assert cmp["t_marker"] == "above 0"
    # baseline Dice over seeds × cases: 0.80 0.70 0.60 0.75 0.65 0.90 -> mean 4.4 / 6 = 0.733333,
    # sum of squares about the mean = 3.2850 − 6 · 0.733333² = 0.058333, sd = sqrt(0.058333 / 5) = 0.108012
    m, sd, n = pooled_mean_sd(BASE)
    assert (n, m, sd) == (6, pytest.approx(0.733333, abs=1e-6), pytest.approx(0.108012, abs=1e-6))
    assert pooled_mean_sd({0: [float("nan"), 0.5]}) == (0.5, 0.0, 1)


# --------------------------------------------------------------------------------------------- the report
def _fake_results():
    from nnunet_svl.tools.benchmark import RunResult

    out = []
    cases = ["a", "b", "c"]

    def run(method, noise, group, seed, values, repair=None):
        dice = [values[c] for c in cases]
        return RunResult(dataset=f"Dataset9xx_{noise}", method=method,
                         trainer=f"{method}_bench" if method != "nnUNetTrainer" else "nnUNetTrainerBaseline_bench",
                         noise=noise, per_case={"dice": dice, "iou": dice, "hd95": [1.0] * 3, "assd": [0.5] * 3},
                         case_ids=list(cases), seed=seed, group=group, seconds_per_epoch=2.0, peak_rss_mb=500.0,
                         repair=repair, curves={"train_losses": [1.0, 0.5]})

    for seed in (0, 1):
        # clean labels: the method is exactly as good as the baseline
        out.append(run("nnUNetTrainer", f"clean_s{seed}", "clean", seed, BASE[seed]))
        out.append(run("nnUNetTrainerSVLDRL", f"clean_s{seed}", "clean", seed, BASE[seed]))
        # noisy labels: the worked example
        out.append(run("nnUNetTrainer", f"mt_r0.5_s{seed}", "mt_r0.5", seed, BASE[seed], {"repair_points": 0.0}))
        out.append(run("nnUNetTrainerSVLDRL", f"mt_r0.5_s{seed}", "mt_r0.5", seed, METH[seed],
                       {"repair_points": 3.0, "dice_final_vs_clean_on_clean_cases": 0.9}))
    return out


def test_write_report_aggregates_over_seeds(tmp_path):
    from nnunet_svl.tools.benchmark import PRESETS
    from nnunet_svl.tools.benchmark_report import write_report

    summary = write_report(_fake_results(), tmp_path, preset=PRESETS["smoke"], command="nnunet-svl benchmark test")
    data = json.loads((tmp_path / "benchmark.json").read_text())
    assert data["groups"] == json.loads(json.dumps(summary["groups"]))

    # per-run entries: the shape the targets checker reads, plus seed, group and the per-case values
    assert list(data["settings"]) == ["clean_s0", "mt_r0.5_s0", "clean_s1", "mt_r0.5_s1"]
    row = next(r for r in data["settings"]["mt_r0.5_s1"] if r["method"] == "nnUNetTrainerSVLDRL")
    assert row["dice"][2] == 3 and row["dice"][0] == pytest.approx((0.76 + 0.66 + 0.93) / 3)
    assert (row["seed"], row["group"], row["case_ids"]) == (1, "mt_r0.5", ["a", "b", "c"])
    assert row["per_case"]["dice"] == [0.76, 0.66, 0.93] and row["seconds_per_epoch"] == 2.0

    # aggregated: clean first, baseline first within a group
    assert list(data["groups"]) == ["clean", "mt_r0.5"]
    base, meth = data["groups"]["mt_r0.5"]
    assert base["method"] == "nnUNetTrainer" and base["diff_vs_baseline"] is None
    assert base["dice"] == [pytest.approx(0.733333, abs=1e-6), pytest.approx(0.108012, abs=1e-6), 6]
    assert meth["n_seeds"] == 2 and meth["seeds"] == [0, 1] and meth["repair_points"] == 3.0
    d = meth["diff_vs_baseline"]
    assert d["units"] == "Dice points" and d["n_pairs"] == 6 and d["n_seeds"] == 2
    assert d["mean"] == pytest.approx(HAND_MEAN, abs=1e-5)
    assert d["t_interval"] == [pytest.approx(HAND_LOW, abs=1e-5), pytest.approx(HAND_HIGH, abs=1e-5)]
    assert d["t_marker"] == "above 0" and len(d["bootstrap_interval"]) == 2
    # clean: identical Dice -> difference 0 with a one-point interval, which "includes 0"
    clean = data["groups"]["clean"][1]["diff_vs_baseline"]
    assert clean["mean"] == 0.0 and clean["t_interval"] == [0.0, 0.0] and clean["t_marker"] == "includes 0"
    stats = data["statistics"]
    assert stats["baseline"] == "nnUNetTrainer" and stats["bootstrap_resamples"] == 2000 and stats["level"] == 0.95
    assert data["preset"]["name"] == "smoke"

    md = (tmp_path / "benchmark.md").read_text()
    # method Dice: 0.82 0.74 0.60 0.76 0.66 0.93 -> mean 4.51 / 6 = 0.751667, sd sqrt(0.068083 / 5) = 0.116691
    assert "## Summary over seeds" in md
    assert "| mt_r0.5 | nnUNetTrainerSVLDRL | 2 | 6 | 0.7517 ± 0.1167 | +1.83 | [+0.29, +3.38] |" in md
    assert "| clean | nnUNetTrainerSVLDRL | 2 | 6 |" in md and "includes 0" in md
    assert "### mt_r0.5_s0" in md and "### clean_s1" in md     # the per-run tables stay
    assert "Upper bound (`nnUNetTrainer` on clean labels, same seed)" in md
    assert (tmp_path / "dice_bars.png").is_file() and (tmp_path / "training_curves.png").is_file()


def test_noise_cost_pairs_the_baseline_on_noisy_labels_with_itself_on_clean_ones(tmp_path):
    """#12's regime figure: nnUNetTrainer on the noisy labels (BASE) minus on the clean labels (METH, as if clean
    training did that well) is the worked example's difference with the sign turned: −HAND_MEAN, interval
    [−HAND_HIGH, −HAND_LOW]; a noisy seed without a clean run of its seed is left out; methods do not enter."""
    from nnunet_svl.tools.benchmark import PRESETS
    from nnunet_svl.tools.benchmark_report import noise_cost, write_report

    results = [r for r in _fake_results() if r.method == "nnUNetTrainer"]
    for r in results:
        if r.group == "clean":
            r.per_case["dice"] = [METH[r.seed][c] for c in r.case_ids]
    cost = noise_cost(results + [r for r in _fake_results() if r.method != "nnUNetTrainer"])["mt_r0.5"]
    assert cost["mean"] == pytest.approx(-HAND_MEAN, abs=1e-5) and cost["n_pairs"] == 6 and cost["n_seeds"] == 2
    assert cost["t_interval"] == [pytest.approx(-HAND_HIGH, abs=1e-5), pytest.approx(-HAND_LOW, abs=1e-5)]
    only_seed0_clean = [r for r in results if not (r.group == "clean" and r.seed == 1)]
    assert noise_cost(only_seed0_clean)["mt_r0.5"]["seeds"] == [0]
    summary = write_report(results, tmp_path, preset=PRESETS["smoke"], command="t")
    assert summary["noise_cost"]["groups"]["mt_r0.5"]["mean"] == pytest.approx(-HAND_MEAN, abs=1e-5)
    md = (tmp_path / "benchmark.md").read_text()
    assert "## What the noise costs `nnUNetTrainer`" in md and f"| mt_r0.5 | 2 | 6 | {-HAND_MEAN:+.2f} |" in md


def test_report_json_still_reads_in_the_targets_checker(tmp_path):
    checker = Path("/work/shared/tools/targets")
    if not checker.is_file():
        pytest.skip("the targets checker is not on this machine")
    from nnunet_svl.tools.benchmark import PRESETS
    from nnunet_svl.tools.benchmark_report import write_report

    write_report(_fake_results(), tmp_path / "benchmarks", preset=PRESETS["cpu"], command="test")
    out = subprocess.run([sys.executable, str(checker)], cwd=tmp_path, capture_output=True, text=True,
                         check=True).stdout
    assert "mt_r0.5" in out and "+1.8 Dice pts" in out
    assert "no clean-label row for nnUNetTrainerSVLDRL" not in out   # clean_s<seed> rows are found


def test_presets_carry_their_parameters():
    from nnunet_svl.tools.benchmark import PRESETS, Preset

    assert {"cpu", "cpu40", "full", "smoke"} <= set(PRESETS)
    cpu, cpu40 = asdict(PRESETS["cpu"]), asdict(PRESETS["cpu40"])
    # cpu: the noise regime (24 / 20 cases, fold all); cpu40 the first benchmark's data; same network and budget
    assert (cpu["n_train"], cpu["n_test"], cpu["fold"]) == (24, 20, "all")
    assert all(cpu[k] == cpu40[k] for k in ("plans", "budget", "narrow", "demo_shape", "configuration"))
    assert cpu40["demo_shape"] == (40, 40, 40) and cpu40["budget"] == "bench" and cpu40["narrow"]
    assert (cpu40["n_train"], cpu40["n_test"], cpu40["configuration"], cpu40["fold"]) == (12, 6, "3d_fullres", 0)
    assert PRESETS["full"].budget is None and PRESETS["full"].demo_shape is None
    p = Preset("x", "nnUNetPlans_narrow", "bench", True, noise_params={"mt": {"side_range": [5, 11]}})
    assert p.noise_params["mt"] == {"side_range": [5, 11]} and PRESETS["cpu"].noise_params == {}


def test_each_seed_trains_in_its_own_results_root(tmp_path):
    from nnunet_svl.tools.benchmark import TRAIN_SEED_ENV, seed_workspace
    from nnunet_svl.tools.pipeline import NNUNetWorkspace

    ws = NNUNetWorkspace.create(tmp_path / "ws")
    s0, s1 = seed_workspace(ws, 0), seed_workspace(ws, 1)
    assert s0.results != s1.results and s0.results == ws.root / "results_seed0"
    assert s0.raw == ws.raw and s0.preprocessed == ws.preprocessed and s0.log_dir == ws.log_dir
    assert (s0.env[TRAIN_SEED_ENV], s1.env[TRAIN_SEED_ENV]) == ("0", "1") and TRAIN_SEED_ENV not in ws.env
    assert s0.run_folder("Dataset990_SVLDemo", "T") != s1.run_folder("Dataset990_SVLDemo", "T")


def test_cli_benchmark_arguments():
    from nnunet_svl.tools.cli import build_parser

    args = build_parser().parse_args(["benchmark", "--seeds", "0", "1", "2", "--preset", "cpu40",
                                      "--no-clean-methods"])
    assert args.seeds == [0, 1, 2] and args.preset == "cpu40" and args.no_clean_methods
    assert args.configuration is None and args.fold is None    # the preset's
    assert not build_parser().parse_args(["benchmark"]).no_clean_methods
    help_text = build_parser()._subparsers._group_actions[0].choices["benchmark"].format_help()
    assert "{cpu,cpu40,full,smoke}" in help_text


def test_baseline_trajectories_give_the_noise_floor_and_the_averaged_comparison(tmp_path):
    """``nnUNetTrainer@t1`` (the baseline with another training seed) is compared like a method (the noise floor);
    every method is also compared with the baseline averaged per case over its trajectories. Hand numbers: the
    second trajectory is the method's Dice minus 4 points per case on seed 0 and the baseline's plus 2 on seed 1."""
    from nnunet_svl.tools.benchmark import PRESETS, RunResult
    from nnunet_svl.tools.benchmark_report import write_report

    traj = {0: {c: METH[0][c] - 0.04 for c in "abc"}, 1: {c: BASE[1][c] + 0.02 for c in "abc"}}
    results = [r for r in _fake_results() if r.group == "mt_r0.5"]
    for seed in (0, 1):
        dice = [traj[seed][c] for c in "abc"]
        results.append(RunResult(dataset="Dataset9xx", method="nnUNetTrainer@t1", trainer="nnUNetTrainerBaseline_bench",
                                 noise=f"mt_r0.5_s{seed}", per_case={"dice": dice, "iou": dice, "hd95": [1.0] * 3,
                                                                      "assd": [0.5] * 3},
                                 case_ids=list("abc"), seed=seed, group="mt_r0.5", seconds_per_epoch=2.0,
                                 peak_rss_mb=500.0, repair={"repair_points": 0.0}))
    data = write_report(results, tmp_path, preset=PRESETS["smoke"], command="test")
    rows = {r["method"]: r for r in data["groups"]["mt_r0.5"]}
    # noise floor: t1 − baseline, in points: seed 0: 2−4, 4−4, 0−4 = −2, 0, −4; seed 1: +2, +2, +2 -> mean 0
    assert rows["nnUNetTrainer@t1"]["diff_vs_baseline"]["mean"] == pytest.approx(0.0, abs=1e-9)
    assert "diff_vs_baseline_trajectories" not in rows["nnUNetTrainer@t1"]
    # method − mean(baseline, t1) = (method − baseline) − (t1 − baseline) / 2, per case:
    # seed 0: 2 + 1 = 3, 4 − 0 = 4, 0 + 2 = 2; seed 1: 1 − 1 = 0, 1 − 1 = 0, 3 − 1 = 2 -> mean 11 / 6 = 1.833333
    # (equal to the plain Δ here because the floor's mean is 0; the per-case pairs differ)
    d = rows["nnUNetTrainerSVLDRL"]["diff_vs_baseline_trajectories"]
    assert d["mean"] == pytest.approx(11 / 6, abs=1e-6) and d["n_trajectories"] == 2 and d["n_pairs"] == 6
    assert rows["nnUNetTrainerSVLDRL"]["diff_vs_baseline"]["mean"] == pytest.approx(HAND_MEAN, abs=1e-5)
    md = (tmp_path / "benchmark.md").read_text()
    assert "## Against `nnUNetTrainer` over its training trajectories" in md
    assert "| mt_r0.5 | nnUNetTrainerSVLDRL | 2 | +1.83 |" in md and "| mt_r0.5 | nnUNetTrainer@t1 | 2 | 6 |" in md


def test_trajectory_runs_train_in_their_own_root_with_their_own_seed(tmp_path):
    from nnunet_svl.tools.benchmark import TRAIN_SEED_ENV, seed_workspace, split_trajectory, training_env
    from nnunet_svl.tools.cli import build_parser
    from nnunet_svl.tools.pipeline import NNUNetWorkspace

    assert split_trajectory("nnUNetTrainer@t2") == ("nnUNetTrainer", 2)
    assert split_trajectory("nnUNetTrainerSVLDRL") == ("nnUNetTrainerSVLDRL", 0)
    ws = NNUNetWorkspace.create(tmp_path / "ws")
    t0, t1 = seed_workspace(ws, 3), seed_workspace(ws, 3, trajectory=1)
    assert t0.results == ws.root / "results_seed3" and t1.results == ws.root / "results_seed3_t1"
    assert (t0.env[TRAIN_SEED_ENV], t1.env[TRAIN_SEED_ENV]) == ("3", "1003")
    # what the training subprocess gets: the trajectory's own seed (a fixed str(seed) here trained t1 as t0)
    assert training_env(t1, tmp_path)[TRAIN_SEED_ENV] == "1003" and training_env(t0, tmp_path)[TRAIN_SEED_ENV] == "3"
    assert build_parser().parse_args(["benchmark", "--baseline-trajectories", "2"]).baseline_trajectories == 2
    assert build_parser().parse_args(["benchmark"]).baseline_trajectories == 1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["benchmark", "--baseline-trajectories", "0"])
