"""#12 item 4: what each decomposition trainer did to the training labels, from the runs' own correction-quality
figures (fold_all/svl_diagnostics.json, written because the benchmark names the clean labels). These figures depend on
the trajectory far less than the test Dice does (the bench's noise floor on mt is several points, BENCHMARKS.md).

    python benchmarks/decomposition/label_figures.py /work/bench_ws/wse 0 1 2

Per trainer, over the seeds given (mean, and per seed): flips over the run in noisy / clean cases, flip precision
over the run in noisy cases (flips to the clean label / flips), the final labels in force against the clean ones
(Dice, noisy cases and clean cases), and the AUROC of DALE's ω for noisy voxels in its last round.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

TRAINERS = ("VA3C_Paper", "VA3C_NoCorrection", "VA3C_DetachedHead", "VA3C_OracleCaseGate", "VA3C_OracleVoxelGate",
            "DALE_Paper", "DALE_FuzzyFromStart", "DALE_PaperNoAlignment", "DALE_OmegaAcrossCases")


def run_figures(diag: dict) -> dict:
    rounds = diag["rounds"]
    flips = {g: sum(r.get(f"flips_{g}", 0) for r in rounds) for g in ("noisy", "clean")}
    correct = sum(r["flip_precision_noisy"] * r["flips_noisy"] for r in rounds if r.get("flips_noisy"))
    last = rounds[-1]
    omega = [v for v in (r.get("omega_auroc_voxels") for r in rounds) if v is not None and v == v]
    return {"flips_noisy": flips["noisy"], "flips_clean": flips["clean"],
            "precision_noisy": correct / flips["noisy"] if flips["noisy"] else math.nan,
            "labels_noisy": last["dice_in_force_c1_noisy"], "labels_noisy_given": last["dice_given_c1_noisy"],
            "labels_clean": last["dice_in_force_c1_clean"], "omega_auroc": omega[-1] if omega else math.nan}


def fmt(v: float, digits: int = 3) -> str:
    return "–" if v != v else (f"{v:.0f}" if digits == 0 else f"{v:.{digits}f}")


def main(ws: str, seeds: list[int]) -> None:
    keys = [("flips_noisy", 0), ("flips_clean", 0), ("precision_noisy", 3), ("labels_noisy", 3), ("labels_clean", 3),
            ("omega_auroc", 3)]
    print("| trainer (mt ρ 0.5, preset cpu) | seeds | flips in noisy cases | flips in clean cases | flip precision "
          "(noisy cases) | labels in force vs clean: noisy cases | clean cases | ω AUROC (noisy voxels) |")
    print("|---|---|---|---|---|---|---|---|")
    given = []
    for t in TRAINERS:
        per_seed = []
        for s in seeds:
            f = next(Path(ws, f"results_seed{s}").glob(f"Dataset*_mt_r0p5_s{s}/nnUNetTrainer{t}_bench__*/fold_all/"
                                                      "svl_diagnostics.json"), None)
            if f is not None:
                per_seed.append((s, run_figures(json.loads(f.read_text()))))
        if not per_seed:
            continue
        given += [fig["labels_noisy_given"] for _, fig in per_seed]
        cells = []
        for key, digits in keys:
            vals = [fig[key] for _, fig in per_seed]
            finite = [v for v in vals if v == v]
            mean = sum(finite) / len(finite) if finite else math.nan
            cells.append(f"{fmt(mean, digits)} ({' / '.join(fmt(v, digits) for v in vals)})" if len(vals) > 1
                         else fmt(mean, digits))
        print(f"| {t} | {', '.join(str(s) for s, _ in per_seed)} | " + " | ".join(cells) + " |")
    if given:
        print(f"\n(given noisy labels vs clean, noisy cases: Dice {sum(given) / len(given):.3f} on average over the runs)")


if __name__ == "__main__":
    main(sys.argv[1], [int(s) for s in sys.argv[2:]] or [0])
