"""Per-epoch time ratios of a run_timing.sh folder, with an interval and with the label rounds taken out (#15).

    python benchmarks/overhead/epoch_ratio.py TIMING_DIR [PLANS]      (PLANS: nnUNetPlans_narrow by default)

Epoch durations come from nnU-Net's own epoch timestamps in each trainer's checkpoint_final.pth; a label round runs
in the trainer's on_epoch_end *before* nnU-Net logs the epoch's end, so its seconds (the "label round N (...): ...,
X s" lines of the training log) are inside those durations. The first trainer of timing.json is the baseline. The
interval: 95 % bootstrap over epochs (each trainer's epochs resampled independently, 4000 resamples, fixed RNG seed)
of the ratio of mean epoch times - it says how much the machine's epoch-to-epoch jitter alone moves the ratio, not
what another run or machine would give."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

from epoch_times import epoch_seconds, training_logging   # this script's folder is on sys.path

out = Path(sys.argv[1])
plans = sys.argv[2] if len(sys.argv) > 2 else "nnUNetPlans_narrow"
timing = json.loads((out / "timing.json").read_text())
rng = np.random.default_rng(0)
epochs, rounds = {}, {}
for tr in timing:
    epochs[tr] = epoch_seconds(training_logging(out, tr, plans))
    log = (out / f"train_{tr}.log").read_text()
    rounds[tr] = [float(s) for s in re.findall(r"label round \d+ \([^)]*\): .*, ([0-9.]+) s\n", log)]
base = next(iter(timing))
b = epochs[base]
print("| trainer | epochs | s/epoch (mean ± sd) | ratio | 95 % bootstrap over epochs | label rounds (n, s) | "
      "ratio without the rounds |")
print("|---|---|---|---|---|---|---|")
for tr, e in epochs.items():
    boot = [rng.choice(e, e.size).mean() / rng.choice(b, b.size).mean() for _ in range(4000)]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    r = rounds[tr]
    without = (e.sum() - sum(r)) / e.size / b.mean()
    print(f"| {tr} | {e.size} | {e.mean():.2f} ± {e.std(ddof=1):.2f} | {e.mean() / b.mean():.3f}× | "
          f"[{lo:.3f}, {hi:.3f}] | {len(r)}, {sum(r):.1f} | {without:.3f}× |")
