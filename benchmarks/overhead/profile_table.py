"""Where a training run spends its time, from a py-spy raw (collapsed-stack) profile of the whole nnUNetv2_train
process tree (`py-spy record --subprocesses --format raw`). Each sample is attributed to the first category, in the
order below, whose marker appears in its stack; idle samples (waiting in the OS) are dropped.

usage: python profile_table.py PROFILE.txt [LABEL]   → a Markdown table (share of the busy samples per category)
"""
from __future__ import annotations

import sys
from collections import Counter

# (category, markers: any of these function names in the stack); first match wins, so specific before general
CATEGORIES = [
    ("memorisation curves (benchmark diagnostics; both trainers, outside the timed epoch)", ("memorisation_curves",)),
    ("label round: whole-case inference (student, teacher, vA3C refine)", ("sliding_window_maps",)),
    ("label round: store I/O (label store, DALE statistics)", ("stage_case", "commit_round", "load_stats",
                                                                "atomic_savez")),
    ("label round: other (DALE maps, flags, diagnostics)", ("run_label_round",)),
    ("vA3C rollout and losses (training step)", ("rl_losses",)),
    ("DALE weighted loss / alignment (training step)", ("segmentation_loss", "class_conditional_alignment_loss")),
    ("teacher EMA update (training step)", ("after_optimizer_step",)),
    ("network forward + nnU-Net loss + backward + optimiser (training step)", ("train_step",)),
    ("data loading and augmentation", ("generate_train_batch", "load_case", "__next__", "next")),
    ("validation (nnU-Net's per-epoch pseudo Dice)", ("validation_step",)),
    ("final validation (nnU-Net, after training)", ("perform_actual_validation",)),
    ("progress plots (nnU-Net's and progress_svl.png)", ("plot_progress_png", "plot_training_curves")),
    ("checkpointing, logging", ("save_checkpoint", "on_epoch_end")),
    ("start-up (imports, initialisation)", ("initialize", "_find_and_load", "on_train_start")),
]
IDLE = ("select", "poll", "wait", "sleep", "_wait_for_tstate_lock", "acquire", "recv", "accept", "epoll")


def main(path: str, label: str = "") -> None:
    counts: Counter = Counter()
    for line in open(path):
        stack, _, n = line.rstrip("\n").rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = stack.split(";")
        leaf = frames[-1].split(" (")[0].rsplit(".", 1)[-1]
        if any(leaf.startswith(i) or leaf.endswith(i) for i in IDLE):
            continue
        names = [f.split(" (")[0].strip().rsplit(".", 1)[-1] for f in frames]   # Class.method -> method
        cat = next((c for c, marks in CATEGORIES if any(m in names for m in marks)), "other")
        counts[cat] += int(n)
    total = sum(counts.values())
    print(f"| where ({label}) | share of busy samples |\n|---|---|")
    for cat, _ in CATEGORIES + [("other", ())]:
        if counts[cat]:
            print(f"| {cat} | {100 * counts[cat] / total:.1f} % |")
    print(f"| (busy samples) | {total} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
