"""#12 item 2: learning curves of the stock nnUNetTrainer on clean and on noisy labels over a long run (the `_long`
budget: 60 epochs x 25 iterations, 3x the cpu preset's), in one command:

    python benchmarks/regime/curves.py --workspace /work/bench_ws/wse --datasets 990 906 --seed 0

Needs a benchmark workspace that holds the datasets (``nnunet-svl benchmark --preset cpu --protocols mt ...`` wrote,
planned and preprocessed them; 990 = the clean demo dataset, the noisy copies from 901). Each dataset trains
``nnUNetTrainerBaseline_long`` on fold ``all`` with the clean training labels and the test set named for the
diagnostics (``NNUNET_SVL_CLEAN_LABELS``, ``NNUNET_SVL_TEST_SET``), so every ``--every`` epochs the run logs the Dice
of its whole-case predictions on the held-out test cases (``mem_test_vs_clean``) and the memorisation curves on its
training cases. A finished run is re-read, an interrupted one resumed. Writes ``curves.json`` and ``curves.png`` to
``--out`` and prints, per noisy dataset, the epoch where the network first fits the noisy labels better than the
clean ones (where memorisation starts; none in the budget if it never does).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

from nnunet_svl.runtime.plots import plt
from nnunet_svl.tools.benchmark import CLEAN_LABELS_ENV, PRESETS, TRAIN_SEED_ENV, seed_workspace
from nnunet_svl.tools.pipeline import NNUNetWorkspace
from nnunet_svl.trainers.budgets import BUDGETS, budget_epochs
from nnunet_svl.trainers.diagnostics import MEMORISATION_EVERY_ENV_VAR, MEMORISATION_KEYS, TEST_SET_ENV_VAR

TRAINER = "nnUNetTrainerBaseline_long"
LABELS = {"mem_test_vs_clean": "test cases (held out) vs clean", "mem_noisy_vs_given": "noisy training cases vs noisy",
          "mem_noisy_vs_clean": "noisy training cases vs clean", "mem_clean_vs_given": "clean training cases"}


def train(ws: NNUNetWorkspace, dataset: Path, seed: int, every: int, trainer: str = TRAINER) -> dict:
    p = PRESETS["cpu"]
    sws = seed_workspace(ws, seed)
    fold_dir = sws.run_folder(dataset.name, trainer, "3d_fullres", p.plans) / "fold_all"
    if not (fold_dir / "checkpoint_final.pth").is_file():
        clean = dataset / "labelsTr_clean" if (dataset / "labelsTr_clean").is_dir() else dataset / "labelsTr"
        env = {CLEAN_LABELS_ENV: str(clean), TEST_SET_ENV_VAR: str(dataset), MEMORISATION_EVERY_ENV_VAR: str(every),
               TRAIN_SEED_ENV: sws.env[TRAIN_SEED_ENV]}
        sws.train(int(dataset.name[7:10]), trainer, fold="all", plans=p.plans,
                  resume=(fold_dir / "checkpoint_latest.pth").is_file(), extra_env=env,
                  name=f"curves_{dataset.name}_{trainer}_s{seed}", progress_epochs=budget_epochs(trainer))
    log = torch.load(fold_dir / "checkpoint_final.pth", map_location="cpu", weights_only=False)["logging"]
    return {k: [float(v) for v in log[k]] for k in MEMORISATION_KEYS}


def memorisation_start(curves: dict) -> int | None:
    """The first measured epoch from which the prediction fits the noisy training labels better than their clean
    ones at every later measurement, to the end of the run (None: not at the end)."""
    measured = [(e, g > c) for e, (g, c) in enumerate(zip(curves["mem_noisy_vs_given"], curves["mem_noisy_vs_clean"]))
                if g == g and c == c]
    start = None
    for epoch, noisy_fits_better in measured:
        start = (start if start is not None else epoch) if noisy_fits_better else None
    return start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace", default="/work/bench_ws/wse")
    ap.add_argument("--datasets", nargs="+", type=int, default=[990, 906], help="dataset ids in the workspace")
    ap.add_argument("--seed", type=int, default=0, help="training seed (the workspace's results_seed<S>/)")
    ap.add_argument("--every", type=int, default=5, help="measure the curves every N epochs (and the last)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "curves_long"))
    ap.add_argument("--trainer", default=TRAINER, help="a budget variant of nnUNetTrainer (the _tiny one checks this "
                                                       "script in a minute)")
    args = ap.parse_args(argv)
    ws = NNUNetWorkspace.create(Path(args.workspace))
    iterations = BUDGETS[args.trainer.rsplit("_", 1)[-1]][1]
    results = {}
    for ds_id in args.datasets:
        dataset = next(iter(sorted(ws.raw.glob(f"Dataset{ds_id:03d}_*"))), None)
        if dataset is None:
            sys.exit(f"error: dataset {ds_id} is not in {ws.raw}; fix: run nnunet-svl benchmark --workspace "
                     f"{args.workspace} --preset cpu first (it writes and preprocesses the datasets)")
        results[dataset.name] = curves = train(ws, dataset, args.seed, args.every, args.trainer)
        start = memorisation_start(curves)
        last = {k: next((v for v in reversed(curves[k]) if v == v), math.nan) for k in MEMORISATION_KEYS}
        print(f"{dataset.name}: test Dice at the end {last['mem_test_vs_clean']:.4f}; memorisation "
              + (f"starts at epoch {start} (iteration {(start + 1) * iterations})" if start is not None else
                 ("not reached in the budget" if not math.isnan(last["mem_noisy_vs_given"]) else "n/a (clean)")))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "curves.json").write_text(json.dumps({"command": " ".join(sys.argv), "trainer": args.trainer,
                                                 "iterations_per_epoch": iterations, "seed": args.seed,
                                                 "curves": results}, indent=1))
    fig, axes = plt.subplots(1, len(results) + 1, figsize=(4.4 * (len(results) + 1), 3.3), squeeze=False)
    for ax, (name, curves) in zip(axes[0], results.items()):
        for key, label in LABELS.items():
            pts = [((e + 1) * iterations, v) for e, v in enumerate(curves[key]) if v == v]
            if pts:
                ax.plot(*zip(*pts), marker="o", ms=2.5, lw=1.2, label=label)
        ax.set_title(name, fontsize=9)
    ax = axes[0][-1]
    for name, curves in results.items():
        pts = [((e + 1) * iterations, v) for e, v in enumerate(curves["mem_test_vs_clean"]) if v == v]
        ax.plot(*zip(*pts), marker="o", ms=2.5, lw=1.2, label=name)
    ax.set_title("test Dice (clean test labels)", fontsize=9)
    for ax in axes[0]:
        ax.set_xlabel("iterations", fontsize=8)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=90)
    print(f"wrote {out / 'curves.json'} and {out / 'curves.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
