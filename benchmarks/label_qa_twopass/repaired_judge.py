"""#16, after mt seed 2: should a label-qa flag on a label the edge repair moved be withdrawn, or judged again on the
repaired label? Offline, no training (fifteenth session).

For every training label the edge repair moves (the trainer's fits, redone on the raw image: repair_to_edge with the
default config's tolerance, steps, window and sigma), prints: whether label-qa flagged it, its Dice with the clean
label before and after the repair, and label-qa's held-out score (1 − Dice of the held-out argmax with the label;
the argmax does not depend on the temperature) of the annotation and of the repaired label, and the fits' offsets
(reached: the fit after the last move within the tolerance, what _LabelQAReached keeps flags by); label-qa's flag rule
(flag_cases, k and margin from the run's summary) re-applied with the moved cases scored on their repaired labels.

    python benchmarks/label_qa_twopass/repaired_judge.py WS DATASET:SEED [DATASET:SEED ...]
"""
import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from nnunet_svl.edge.boundary import reached_edge, repair_to_edge
from nnunet_svl.runtime.config import SVLConfig
from nnunet_svl.teacher.case_flags import flag_cases
from nnunet_svl.tools.label_qa import _load_probs, held_out_files
from nnunet_svl.tools.metrics import dice

cfg = SVLConfig()
ws = Path(sys.argv[1])

for arg in sys.argv[2:]:
    name, seed = arg.rsplit(":", 1)
    raw = ws / "raw" / name
    run = ws / f"results_seed{seed}" / name / "nnUNetTrainerBaseline_bench__nnUNetPlans_narrow__3d_fullres"
    summary = json.loads((run / "label_qa" / "summary.json").read_text())
    files = held_out_files(run, range(5), int(name[7:10]))
    flagged = set(summary["flagged"])
    scores, repaired_scores, rows = {}, {}, []
    for case in sorted(files):
        img = sitk.ReadImage(str(raw / "imagesTr" / f"{case}_0000.nii.gz"))
        image = sitk.GetArrayFromImage(img)[None].astype(np.float32)
        label = sitk.GetArrayFromImage(sitk.ReadImage(str(raw / "labelsTr" / f"{case}.nii.gz"))).astype(np.int16)
        clean = sitk.GetArrayFromImage(sitk.ReadImage(str(raw / "labelsTr_clean" / f"{case}.nii.gz"))) > 0
        pred = _load_probs(files[case], label).argmax(0) > 0
        scores[case] = 1 - dice(pred, label > 0)
        out, fits = repair_to_edge(image, label, cfg.edge_tolerance, cfg.edge_repair_steps,
                                   spacing=img.GetSpacing()[::-1], window=cfg.edge_window, sigma=cfg.edge_sigma)
        if out is label:
            continue
        repaired_scores[case] = 1 - dice(pred, out > 0)
        reached = reached_edge(fits, cfg.edge_tolerance)
        rows.append((case, case in flagged, dice(label > 0, clean), dice(out > 0, clean), scores[case],
                     repaired_scores[case], dice(pred, clean), int((out != label).sum()),
                     " → ".join(f"{f.offset:+.2f}" for f in fits) + (" (reached)" if reached else " (not reached)")))
    k, margin = summary["flag_rule"]["k"], summary["flag_rule"]["margin"]
    by_score = flag_cases(scores, k=k, margin=margin)
    rejudged = flag_cases({**scores, **repaired_scores}, k=k, margin=margin)
    print(f"{name} (seed {seed}): label-qa flagged {sorted(flagged)}; by the held-out score alone "
          f"{sorted(by_score)}")
    print("| moved case | label-qa flag | Dice annotation / clean | Dice repaired / clean | score annotation | "
          "score repaired | flagged when re-judged | held-out argmax / clean | voxels moved | edge fits |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for case, f, d0, d1, s0, s1, dp, n, path in rows:
        print(f"| {case} | {'yes' if f else 'no'} | {d0:.3f} | {d1:.3f} | {s0:.3f} | {s1:.3f} | "
              f"{'yes' if case in rejudged else 'no'} | {dp:.3f} | {n} | {path} |")
    print()
