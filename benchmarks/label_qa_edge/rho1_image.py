"""#16 offline, ρ 1.0 (every label noisy): what label-qa's image evidence says when no label is clean — how many
labels it would confirm (wrongly: each withdraws a flag from a noisy case), call edge-absent (rightly) or find
over-drawn (the edge repair's move, not a flag). Images and labels regenerated as the benchmark writes them.

    python benchmarks/label_qa_edge/rho1_image.py SCRATCH_DIR      (the same scratch folder as offline.py)"""
from __future__ import annotations

import sys
from pathlib import Path

from nnunet_svl.edge.boundary import MIN_STEP_T
from nnunet_svl.qa.image_evidence import MIN_ON_EDGE_SHARE
from nnunet_svl.teacher.case_flags import flag_edge_absent, image_confirmed
from nnunet_svl.tools.corrupt import corrupt_dataset
from nnunet_svl.tools.demo_data import write_demo_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from offline import TOLERANCE, fits_of  # noqa: E402


def main(scratch: Path) -> None:
    scratch.mkdir(parents=True, exist_ok=True)
    src = next(iter(sorted(scratch.glob("Dataset990_*"))), None) or \
        write_demo_dataset(scratch, dataset_id=990, n_train=24, n_test=20, shape=(40, 40, 40))
    print("| ρ 1.0 | labels | confirmed (wrongly), without the share rule | confirmed (wrongly) | edge absent | "
          "over-drawn by the image | neither |")
    print("|---|---|---|---|---|---|---|")
    next_id = 950
    for protocol in ("mt", "dilate", "markov"):
        for seed in (0, 1, 2):
            name = f"SVLDemo_{protocol}_r1_s{seed}"
            ds = next(iter(sorted(scratch.glob(f"Dataset*_{name}"))), None)
            if ds is None:
                while any(scratch.glob(f"Dataset{next_id:03d}_*")):
                    next_id += 1
                ds = corrupt_dataset(src, target_id=next_id, protocol=protocol, ratio=1.0, seed=seed,
                                     raw_root=scratch, target_name=name)
            fits = fits_of(ds)
            fit3 = {c: (f.offset, f.step_t, f.reliable) for c, f in fits.items()}
            without = image_confirmed(fit3, TOLERANCE)
            confirmed = image_confirmed(fit3, TOLERANCE, min_on_edge_share=MIN_ON_EDGE_SHARE)
            absent = flag_edge_absent({c: f.step_t for c, f in fits.items()}, MIN_STEP_T)
            moved = {c for c, f in fits.items() if f.moves(TOLERANCE)}
            rest = set(fits) - confirmed - absent - moved
            print(f"| {protocol} s{seed} | {len(fits)} | {len(without)} | {len(confirmed)} | {len(absent)} | {len(moved)} | {len(rest)} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
