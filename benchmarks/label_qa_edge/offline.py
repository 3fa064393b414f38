"""#16 offline: does the image's evidence at the label boundary (the teacher gate's edge veto and edge-absent flags,
nnunet_svl.teacher.case_flags) fix label-qa's case flags and ranking?  No training: the held-out scores are the
committed label_qa CSVs of the earlier sessions' runs; the images and labels are regenerated (the demo writer and
the corruption are deterministic: the script checks the regenerated noisy cases against each run's summary).

    python benchmarks/label_qa_edge/offline.py SCRATCH_DIR

Per run: the flags as committed (held-out score only), with the veto (flags minus image-confirmed cases), with the
veto and the edge-absent flags, and the case AUROC of the score alone and of the image-first ranking
(edge-absent > no verdict > confirmed, the held-out score within each); the last column counts the labels the edge
repair would move (a trusted fit more than the tolerance outside the edge), which label-qa does not flag; the last
but one, the flags the two-pass trainer keeps since 18b5759 (label_qa_withdraw_repaired: a flag on a label the edge
repair moves is withdrawn), with the withdrawn count - where that is every flag, the two-pass trainer is the one-pass
configuration on that run. (The trainer fits the preprocessed image; a fit here on the raw image may differ at the
tolerance's margin: the training log's "withdrawn" line is the judge.)"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from nnunet_svl.diagnostics.quality import auroc
from nnunet_svl.edge.boundary import MIN_STEP_T, fit_edge
from nnunet_svl.qa.image_evidence import MIN_ON_EDGE_SHARE
from nnunet_svl.teacher.case_flags import flag_edge_absent, image_confirmed
from nnunet_svl.tools.corrupt import corrupt_dataset
from nnunet_svl.tools.demo_data import write_demo_dataset

HERE = Path(__file__).resolve().parent.parent / "label_qa_twopass"
RUNS = [("clean", 0.5, s, HERE / f"clean_qa_s{s}.csv", HERE / f"clean_qa_s{s}.json") for s in (2,)] + \
       [(p, 0.5, s, HERE / f"report_{p}_s0{'12' if p != 'markov' else '1'}" / f"label_qa_s{s}.csv",
         HERE / f"report_{p}_s0{'12' if p != 'markov' else '1'}" / f"label_qa_summary_s{s}.json")
        for p in ("mt", "dilate", "markov") for s in ((0, 1, 2) if p != "markov" else (0, 1))]
TOLERANCE = 1.0     # SVLConfig.edge_tolerance


def fits_of(ds: Path) -> dict:
    out = {}
    for lab_path in sorted((ds / "labelsTr").glob("*.nii.gz")):
        case = lab_path.name[:-7]
        img = sitk.ReadImage(str(ds / "imagesTr" / f"{case}_0000.nii.gz"))
        image = sitk.GetArrayFromImage(img)[None].astype(np.float32)
        label = sitk.GetArrayFromImage(sitk.ReadImage(str(lab_path)))
        f = fit_edge(image, label > 0, spacing=img.GetSpacing()[::-1])
        out[case] = f
    return out


def main(scratch: Path) -> None:
    scratch.mkdir(parents=True, exist_ok=True)
    src = next(iter(sorted(scratch.glob("Dataset990_*"))), None) or \
        write_demo_dataset(scratch, dataset_id=990, n_train=24, n_test=20, shape=(40, 40, 40))
    next_id = 901
    print("| run | noisy | flagged (score) | flagged (score − confirmed) | + edge-absent | AUROC score | "
          "AUROC image-first | confirmed noisy / clean | absent noisy / clean | kept by the rule (withdrawn) | "
          "image over-drawn noisy / clean |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for protocol, ratio, seed, csv_path, summary_path in RUNS:
        if protocol == "clean":
            ds = src
        else:
            name = f"SVLDemo_{protocol}_r{ratio:g}_s{seed}".replace(".", "p")
            ds = next(iter(sorted(scratch.glob(f"Dataset*_{name}"))), None)
            if ds is None:
                while any(scratch.glob(f"Dataset{next_id:03d}_*")):
                    next_id += 1
                ds = corrupt_dataset(src, target_id=next_id, protocol=protocol, ratio=ratio, seed=seed,
                                     raw_root=scratch, target_name=name)
        rows = {r["case"]: r for r in csv.DictReader(open(csv_path))}
        summary = json.loads(Path(summary_path).read_text())
        fits = fits_of(ds)
        cases = sorted(rows)
        if protocol == "clean":
            noisy = set()
        else:
            noisy = set()
            for c in cases:
                a = sitk.GetArrayFromImage(sitk.ReadImage(str(ds / "labelsTr" / f"{c}.nii.gz")))
                b = sitk.GetArrayFromImage(sitk.ReadImage(str(ds / "labelsTr_clean" / f"{c}.nii.gz")))
                if (a != b).any():
                    noisy.add(c)
            assert noisy == set(summary["noisy_cases"]), (protocol, seed, "regenerated noise differs")
        flagged = set(summary["flagged"])
        confirmed = image_confirmed({c: (f.offset, f.step_t, f.reliable) for c, f in fits.items()}, TOLERANCE,
                                    min_on_edge_share=MIN_ON_EDGE_SHARE)
        absent = flag_edge_absent({c: f.step_t for c, f in fits.items()}, MIN_STEP_T)
        moved = {c for c, f in fits.items() if f.moves(TOLERANCE)}    # what the edge repair would move (not a flag)
        veto = flagged - confirmed
        both = veto | absent
        score = {c: float(rows[c]["noise_score"]) for c in cases}
        verdict = {c: (1 if c in absent else -1 if c in confirmed else 0) for c in cases}
        truth = [c in noisy for c in cases]
        a_score = auroc([score[c] for c in cases], truth) if noisy else float("nan")
        a_img = auroc([verdict[c] * 10 + score[c] for c in cases], truth) if noisy else float("nan")

        def pr(s):
            tp = len(s & noisy)
            return f"{len(s)} ({tp} noisy)"
        print(f"| {protocol} ρ{ratio:g} s{seed} | {len(noisy)} | {pr(flagged)} | {pr(veto)} | {pr(both)} | "
              f"{a_score:.3f} | {a_img:.3f} | {len(confirmed & noisy)} / {len(confirmed - noisy)} | "
              f"{len(absent & noisy)} / {len(absent - noisy)} | {pr(both - moved)} ({len(both & moved)}) | "
              f"{len(moved & noisy)} / {len(moved - noisy)} |")
        if protocol == "clean":
            for c in sorted(flagged):
                f = fits[c]
                med = np.median([g.step_t for g in fits.values() if g.reliable and abs(g.offset) <= TOLERANCE])
                print(f"|  {c}: offset {f.offset:+.2f}, t {f.step_t:.1f} (median of on-edge {med:.1f}), "
                      f"trusted {f.reliable} {f.reason} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
