"""mt ρ 0.5, three seeds, with label-qa's image evidence: seeds 0 and 1 re-run in this session's workspace (their
flags changed), seed 2 from the eleventh session's report (its flags did not change). Paired per test case within a
seed; 95 % t-interval over the 60 pairs.      python benchmarks/label_qa_edge/pooled_mt.py"""
import json
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).resolve().parent
SOURCES = {0: HERE / "report_mt/report_twopass_mt_r0p5_s0/benchmark.json",
           1: HERE / "report_mt/report_twopass_mt_r0p5_s1/benchmark.json",
           2: HERE.parent / "label_qa_twopass/report_mt_s012/benchmark.json"}


def dice(seed, method):
    runs = json.loads(SOURCES[seed].read_text())["settings"][f"mt_r0.5_s{seed}"]
    r = next(r for r in runs if r["method"] == method)
    return dict(zip(r["case_ids"], r["per_case"]["dice"]))


for a, b in (("nnUNetTrainerSVLDRL_LabelQA", "nnUNetTrainer"), ("nnUNetTrainerSVLDRL", "nnUNetTrainer"),
             ("nnUNetTrainerSVLDRL_LabelQA", "nnUNetTrainerSVLDRL")):
    d = []
    for s in SOURCES:
        x, y = dice(s, a), dice(s, b)
        d += [100 * (x[c] - y[c]) for c in x]
    d = np.array(d)
    lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    print(f"{a} − {b}: {d.mean():+.2f} [{lo:+.2f}, {hi:+.2f}] (n = {len(d)})")
