"""#16: how much of a Δ between two trainers on one noise draw is the training trajectory (fourteenth session).

Each (seed, trajectory) is one training run per trainer on the same noisy labels: trajectory 0 is the benchmark's run
(training seed = seed), trajectory 1 the `@t1` run (training seed + TRAJECTORY_SEED_STEP, same labels, same test set).

    nnunet-svl benchmark --workspace WS --preset cpu --protocols mt --ratios 0.5 --seeds S --no-clean-methods \\
        --methods "nnUNetTrainer@t1" "nnUNetTrainerSVLDRL@t1" "nnUNetTrainerSVLDRL_LabelQA@t1"
        # the _LabelQA run needs the seed's label_qa folder under results_seed<S>_t1/<dataset>/<any run>/
    python benchmarks/label_qa_twopass/trajectories.py WS DATASET:SEED [DATASET:SEED ...]

ALL=1 adds the ablation _LabelQAAll as "two-pass-all".
REACHED=1 adds the ablation _LabelQAReached as "two-pass-reached" (fifteenth session).
TRAJS="0" compares the benchmark's runs only (e.g. the rho 1.0 rows, one trajectory); DATASET:SEED:0 does so for one
dataset (e.g. a seed with no @t1 runs pooled with seeds that have both).
With PRIOR=TAG in the environment, the runs of ``prior_subset.py WS SEED DATASET TAG ...`` join as trainer "prior"
(where they exist for every listed run), with the contrasts prior − one-pass and prior − two-pass.

Prints every run's mean test Dice, each trainer's t1 − t0 (the trajectory's own Δ), and the three contrasts per run
and pooled over all runs (t interval over test cases × runs; cluster bootstrap over runs).
"""
import os
import sys
from pathlib import Path

import numpy as np

from nnunet_svl.tools.benchmark import trajectory_suffix
from nnunet_svl.tools.evaluate import case_means
from nnunet_svl.tools.stats import cluster_bootstrap, t_interval

TRAINERS = {"nnUNetTrainer": "nnUNetTrainerBaseline_bench", "one-pass": "nnUNetTrainerSVLDRL_bench",
            "two-pass": "nnUNetTrainerSVLDRL_LabelQA_bench"}
CONTRASTS = [("one-pass", "nnUNetTrainer"), ("two-pass", "nnUNetTrainer"), ("two-pass", "one-pass")]
if os.environ.get("ALL"):     # the ablation _LabelQAAll (every label-qa flag stands: the two-pass trainer before
    TRAINERS["two-pass-all"] = "nnUNetTrainerSVLDRL_LabelQAAll_bench"      # 2026-12-03), where it was run
    CONTRASTS += [("two-pass", "two-pass-all"), ("two-pass-all", "one-pass")]

if os.environ.get("REACHED"):     # the ablation _LabelQAReached (fifteenth session): a flag is withdrawn only where
    TRAINERS["two-pass-reached"] = "nnUNetTrainerSVLDRL_LabelQAReached_bench"     # the repair reached the edge
    CONTRASTS += [("two-pass-reached", "nnUNetTrainer"), ("two-pass-reached", "one-pass"),
                  ("two-pass-reached", "two-pass")]
    if os.environ.get("ALL"):
        CONTRASTS += [("two-pass-reached", "two-pass-all")]

ws = Path(sys.argv[1])


PRIOR = os.environ.get("PRIOR")
if PRIOR:
    TRAINERS["prior"] = f"prior_{PRIOR}:nnUNetTrainerSVLDRL_LabelQA_bench"
    CONTRASTS += [("prior", "one-pass"), ("prior", "two-pass")]


def evaluation(seed: int, traj: int, ds: str, trainer: str) -> Path:
    root, _, trainer = trainer.rpartition(":")
    run = f"{root}_s{seed}" if root else f"seed{seed}"
    return ws / "benchmark_predictions" / f"{run}{trajectory_suffix(traj)}" / ds / trainer / "svl_evaluation.json"


def run_keys(arg: str) -> list:
    """DATASET:SEED -> its runs on the trajectories of TRAJS; DATASET:SEED:T[+T...] -> those trajectories only."""
    ds, seed, *trajs = arg.split(":")
    trajs = trajs[0].split("+") if trajs else os.environ.get("TRAJS", "0 1").split()
    return [(ds, int(seed), int(t)) for t in trajs]


keys = [k for a in sys.argv[2:] for k in run_keys(a)]
missing = {k for k, t in TRAINERS.items() if not all(evaluation(s, tr, ds, t).is_file() for ds, s, tr in keys)}
if missing:     # a trainer not evaluated on every listed run is left out, with the contrasts that need it
    print(f"left out (not evaluated on every run): {sorted(missing)}\n")
    TRAINERS = {k: t for k, t in TRAINERS.items() if k not in missing}
    CONTRASTS = [c for c in CONTRASTS if not set(c) & missing]
runs = {(ds, s, tr): {k: case_means(evaluation(s, tr, ds, t)) for k, t in TRAINERS.items()} for ds, s, tr in keys}

print("run: mean Dice " + " / ".join(TRAINERS))
for (ds, seed, traj), d in runs.items():
    print(f"  {ds} seed {seed} t{traj}: " + " / ".join(f"{np.mean(list(d[k].values())):.4f}" for k in TRAINERS))

print("\nthe trajectory's own delta (t1 - t0, same trainer, same labels), points")
for ds, seed, traj in runs:
    if traj == 1:
        for k in TRAINERS:
            a, b = runs[(ds, seed, 1)][k], runs[(ds, seed, 0)][k]
            m, lo, hi, n = t_interval(np.array([a[c] - b[c] for c in sorted(b)]) * 100)
            print(f"  {ds} seed {seed} {k}: {m:+.2f} [{lo:+.2f}, {hi:+.2f}]")

print("\ncontrasts per run and pooled (points)")
for a_name, b_name in CONTRASTS:
    by_run = {}
    for i, (key, d) in enumerate(runs.items()):
        a, b = d[a_name], d[b_name]
        by_run[i] = np.array([a[c] - b[c] for c in sorted(b)]) * 100
        m, lo, hi, n = t_interval(by_run[i])
        print(f"  {a_name} - {b_name}, {key[0]} seed {key[1]} t{key[2]}: {m:+.2f} [{lo:+.2f}, {hi:+.2f}]")
    m, lo, hi, n = t_interval(by_run)
    boot = cluster_bootstrap(by_run)
    print(f"  {a_name} - {b_name}, pooled over {len(by_run)} runs x cases (n={n}): {m:+.2f} [{lo:+.2f}, {hi:+.2f}]; "
          f"bootstrap over runs [{boot[0]:+.2f}, {boot[1]:+.2f}]")
    print(f"    per-run means: {', '.join(f'{v.mean():+.2f}' for v in by_run.values())}")
