"""#16 item 4: what the label-qa prior adds to the one-pass trainer's own teacher gate, read from the training logs
(sixteenth session).

    python benchmarks/label_qa_twopass/prior_vs_gate.py WS DATASET:SEED[:T] [DATASET:SEED[:T] ...]

For each run (the benchmark's trajectory T = 0, or the ``@t1`` run T = 1) of a noise draw with a label-qa folder:

- label-qa's flags (noisy: how many of them are noisy by the draw's ``noise_manifest.json``), the flags the
  two-pass trainer withdrew (the edge repair moved those labels) and the flags that stand;
- the one-pass trainer's teacher gate: the epoch of its first decided flags, those flags, and its last flags;
- whether every standing prior flag is among the one-pass gate's last flags, and the epoch each of them was first
  flagged there: where they all are, the two-pass trainer differs from the one-pass trainer only in *when* those
  cases leave the batches (iteration 0 instead of that epoch);
- the mean test Dice of both trainers and their difference in points.

Everything comes from nnU-Net's ``training_log_*.txt`` of the two runs (the lines the trainers write: "label QA
prior: ...", "teacher gate: N of M cases flagged (...)") and the benchmark's ``svl_evaluation.json``.
"""
from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import numpy as np

from nnunet_svl.tools.benchmark import trajectory_suffix
from nnunet_svl.tools.evaluate import case_means

ONE_PASS, TWO_PASS = "nnUNetTrainerSVLDRL_bench", "nnUNetTrainerSVLDRL_LabelQA_bench"
RUN = "{trainer}__nnUNetPlans_narrow__3d_fullres"
FLAGGED = re.compile(r"teacher gate: \d+ of \d+ cases flagged \((\[[^\]]*\])\)")
EPOCH = re.compile(r": Epoch (\d+)\s*$")
WITHDRAWN = re.compile(r"label QA prior: \d+ flags withdrawn, .*?: (\[[^\]]*\]);")


def gate_history(log_text: str) -> list[tuple[int, set]]:
    """[(epoch, flagged cases)] of every decided teacher-gate round in a run's training logs, in order."""
    epoch, out = -1, []
    for line in log_text.splitlines():
        if m := EPOCH.search(line):
            epoch = int(m.group(1))
        elif m := FLAGGED.search(line):
            out.append((epoch, set(ast.literal_eval(m.group(1)))))
    return out


def training_log(ws: Path, seed: int, traj: int, ds: str, trainer: str) -> str:
    """The run's training logs in time order, joined (a resumed run has one per start; nnU-Net names them by the
    start time, so the names sort in time order)."""
    folder = ws / f"results_seed{seed}{trajectory_suffix(traj)}" / ds / RUN.format(trainer=trainer) / "fold_all"
    logs = sorted(folder.glob("training_log_*.txt"), key=lambda p: [int(x) for x in re.findall(r"\d+", p.name)])
    if not logs:
        raise SystemExit(f"{folder}: no training log (run the benchmark of {trainer} on this draw first)")
    return "\n".join(p.read_text() for p in logs)


def mean_dice(ws: Path, seed: int, traj: int, ds: str, trainer: str) -> dict:
    run = f"seed{seed}{trajectory_suffix(traj)}"
    return case_means(ws / "benchmark_predictions" / run / ds / trainer / "svl_evaluation.json")


def main(argv: list) -> None:
    ws = Path(argv[0])
    print("| run | label-qa flags (noisy) | withdrawn | standing | one-pass gate: first decided (epoch) | its last | "
          "standing ⊆ last | epoch each standing flag joined the one-pass | one-pass | two-pass | two − one |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    all_inside, diffs = True, []
    for arg in argv[1:]:
        ds, seed, *traj = arg.split(":")
        seed, traj = int(seed), int(traj[0]) if traj else 0
        found = sorted((ws / f"results_seed{seed}" / ds).glob("*/label_qa/summary.json"))
        if not found:
            raise SystemExit(f"{ws / f'results_seed{seed}' / ds}: no label_qa folder (run_s11.sh runs the folds and "
                             "label-qa)")
        qa = json.loads(found[0].read_text())
        manifest = json.loads((ws / "raw" / ds / "noise_manifest.json").read_text())["cases"]
        prior = set(qa["flagged"])
        noisy = {c for c, rec in manifest.items() if rec.get("noisy")}
        two_log = training_log(ws, seed, traj, ds, TWO_PASS)
        withdrawn = set(ast.literal_eval(m.group(1))) if (m := WITHDRAWN.search(two_log)) else set()
        standing = prior - withdrawn
        history = gate_history(training_log(ws, seed, traj, ds, ONE_PASS))
        first_epoch, first = history[0] if history else (None, set())
        last = history[-1][1] if history else set()
        joined = {c: next((e for e, f in history if c in f), None) for c in sorted(standing)}
        inside = standing <= last
        all_inside &= inside
        one, two = mean_dice(ws, seed, traj, ds, ONE_PASS), mean_dice(ws, seed, traj, ds, TWO_PASS)
        d = 100 * float(np.mean([two[c] - one[c] for c in one]))
        diffs.append(d)
        epochs = sorted({e for e in joined.values()}, key=lambda e: (e is None, e))
        print(f"| {ds[7:]} s{seed} t{traj} | {len(prior)} ({len(prior & noisy)}) | {len(withdrawn)} | {len(standing)} | "
              f"{len(first)} ({first_epoch}) | {len(last)} | {'yes' if inside else 'NO: ' + str(sorted(standing - last))} "
              f"| {', '.join(str(e) for e in epochs) or '–'} | {np.mean(list(one.values())):.4f} | "
              f"{np.mean(list(two.values())):.4f} | {d:+.2f} |")
    print(f"\nevery standing prior flag among the one-pass gate's flags: {'yes' if all_inside else 'no'} "
          f"({len(diffs)} runs); two-pass − one-pass per run: {', '.join(f'{d:+.2f}' for d in diffs)}")


if __name__ == "__main__":
    main(sys.argv[1:])
