"""#12 item 4: each mechanism's effect as a paired contrast between two decomposition trainers (same seed, same test
case), with the benchmark's intervals (nnunet_svl.tools.stats), from a combined report's benchmark.json:

    python benchmarks/decomposition/contrasts.py benchmarks/decomposition/report_s{0,1,2}/benchmark.json
    python benchmarks/decomposition/contrasts.py WS/report_decomp_*_s2/benchmark.json ...   # several: runs merged
    python benchmarks/decomposition/contrasts.py --group dilate_r0.5 REPORT.json ...          # another setting

The same table serves #16: the two-pass trainer (``SVLDRL_LabelQA``) against ``nnUNetTrainer`` and against the
one-pass default (``SVLDRL``).

A row "A − B" is the Dice of A minus the Dice of B in points: what switching B's mechanism to A's does, everything
else equal. The bench's trajectory noise applies to every row (a method with no effect at all showed −4.25 on mt
against nnUNetTrainer, BENCHMARKS.md "The bench's noise floor"): a contrast whose interval excludes 0 by less than that
is not evidence of an effect.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict

from nnunet_svl.tools.stats import compare_to_baseline, paired_differences

CONTRASTS = (
    ("the papers' vA3C design (RL losses, corrections) vs nnUNetTrainer", "VA3C_Paper", "nnUNetTrainer"),
    ("(a) corrections, given the papers' RL training", "VA3C_Paper", "VA3C_NoCorrection"),
    ("the papers' RL training without corrections vs nnUNetTrainer", "VA3C_NoCorrection", "nnUNetTrainer"),
    ("(b) RL gradients into the decoder features", "VA3C_Paper", "VA3C_DetachedHead"),
    ("(c) oracle case gate: clean cases left alone", "VA3C_OracleCaseGate", "VA3C_Paper"),
    ("(d) oracle voxel gate: only right flips", "VA3C_OracleVoxelGate", "VA3C_Paper"),
    ("(d) oracle voxel gate vs nnUNetTrainer (the bound of correction here)", "VA3C_OracleVoxelGate",
     "nnUNetTrainer"),
    ("the papers' DALE design vs nnUNetTrainer", "DALE_Paper", "nnUNetTrainer"),
    ("(e) DALE weight 1 − m(1 − ω) from the start instead of 1 − m in warm-up", "DALE_FuzzyFromStart", "DALE_Paper"),
    ("(f) alignment (the papers' DALE with it vs without)", "DALE_Paper", "DALE_PaperNoAlignment"),
    ("(g) ω normalised across cases instead of within each case", "DALE_OmegaAcrossCases", "DALE_Paper"),
    ("the one-pass default vs nnUNetTrainer", "SVLDRL", "nnUNetTrainer"),
    ("#16 the two-pass trainer (label-qa's flags from iteration 0) vs nnUNetTrainer", "SVLDRL_LabelQA",
     "nnUNetTrainer"),
    ("#16 the two-pass trainer vs the one-pass default", "SVLDRL_LabelQA", "SVLDRL"),
)


def per_case(reports: list, group: str = "mt_r0.5") -> dict:
    """method (without the nnUNetTrainer prefix for ablations) -> seed -> {case: Dice}, over the reports' runs."""
    out: dict = defaultdict(dict)
    for rows in (rows for report in reports for rows in report["settings"].values()):
        for row in rows:
            if row["group"] != group:
                continue
            name = row["method"] if row["method"] == "nnUNetTrainer" else row["method"].replace("nnUNetTrainer", "")
            out[name][row["seed"]] = dict(zip(row["case_ids"], row["per_case"]["dice"]))
    return out


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", help="benchmark.json files; several: their runs are merged")
    parser.add_argument("--group", default="mt_r0.5", help="protocol_ratio setting, e.g. dilate_r0.5 (default mt_r0.5)")
    args = parser.parse_args(argv)
    values = per_case([json.load(open(p)) for p in args.reports], args.group)
    print("| mechanism | contrast | seeds | n | Δ (pts) | 95 % t | 95 % bootstrap | per seed |")
    print("|---|---|---|---|---|---|---|---|")
    for label, a, b in CONTRASTS:
        if a not in values or b not in values:
            continue
        c = compare_to_baseline(values[a], values[b], scale=100.0)
        seeds = sorted(set(values[a]) & set(values[b]))
        diffs = paired_differences(values[a], values[b])     # seed -> per-case differences
        per_seed = " / ".join(f"{100 * float(diffs[s].mean()):+.2f}" for s in seeds)
        t, bs = c["t_interval"], c["bootstrap_interval"]
        print(f"| {label} | {a} − {b} | {len(seeds)} | {c['n_pairs']} | {c['mean_diff']:+.2f} | "
              f"[{t[0]:+.2f}, {t[1]:+.2f}] | [{bs[0]:+.2f}, {bs[1]:+.2f}] | {per_seed} |")


if __name__ == "__main__":
    main()
