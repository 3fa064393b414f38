"""The benchmark's outputs: ``benchmark.md`` (tables), ``benchmark.json`` (all numbers) and PNG plots.

``benchmark.json``: ``settings`` — one entry per setting key (``<protocol>_r<ratio>_s<seed>``, ``clean_s<seed>``) with
one row per method (its per-case values, so every statistic can be recomputed); ``groups`` — per setting group
(seeds pooled: ``<protocol>_r<ratio>``, ``clean``) and method, Dice over seeds × cases and the paired difference to
``nnUNetTrainer`` with its intervals (:mod:`nnunet_svl.tools.stats`); ``noise_cost`` — per noisy group, ``nnUNetTrainer``
on the noisy labels against itself on the clean ones (:func:`noise_cost`); ``statistics`` — how those were computed.
"""
from __future__ import annotations

import io
import math
import platform
import re
import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import numpy as np

from nnunet_svl.runtime.atomic_io import atomic_write_bytes, atomic_write_json
from nnunet_svl.tools.benchmark import split_trajectory
from nnunet_svl.tools.stats import (BASELINE, BOOTSTRAP_RESAMPLES, BOOTSTRAP_RNG_SEED, LEVEL, compare_to_baseline,
                                    nan_to_none, pooled_mean_sd)


def _mean_sd(values) -> tuple[float, float, int]:
    vals = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if vals.size == 0:
        return float("nan"), float("nan"), 0
    return float(vals.mean()), float(vals.std(ddof=1)) if vals.size > 1 else 0.0, int(vals.size)


def _fmt(m: float, s: float, digits: int) -> str:
    if not np.isfinite(m):
        return "n/a"
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if np.isfinite(a) and np.isfinite(b) and b > 0 else "n/a"


def _machine() -> str:
    import os

    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except Exception:
        gpu = "?"
    return f"{platform.platform()}, {os.cpu_count()} CPU cores, {gpu}, Python {platform.python_version()}"


def split_setting(key: str) -> tuple[str, Optional[int]]:
    """``mt_r0.5_s3`` -> (``mt_r0.5``, 3); ``clean_s0`` -> (``clean``, 0); a key without a seed -> (key, None)."""
    m = re.fullmatch(r"(.*)_s(\d+)", key)
    return (m.group(1), int(m.group(2))) if m else (key, None)


def _group_seed(r) -> tuple[str, Optional[int]]:
    group, seed = split_setting(r.noise)
    return (getattr(r, "group", None) or group,
            getattr(r, "seed", None) if getattr(r, "seed", None) is not None else seed)


def _case_values(r, metric: str = "dice"):
    """{case id: value} when the run names its cases, else the list (paired by position)."""
    values = r.per_case.get(metric, [])
    ids = getattr(r, "case_ids", None) or []
    return dict(zip(ids, values)) if len(ids) == len(values) and ids else list(values)


def _method_order(methods) -> list:
    return sorted(set(methods), key=lambda m: (m != BASELINE, m))


def _interval(lo, hi) -> str:
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return "n/a"
    return f"[{lo:+.2f}, {hi:+.2f}]"


def _is_baseline(method: str) -> bool:
    """``nnUNetTrainer`` or one of its trajectories ``nnUNetTrainer@t<k>`` (retrained with another training seed)."""
    return split_trajectory(method)[0] == BASELINE


def _diff_entry(cmp: dict) -> dict:
    return {"baseline": BASELINE, "units": "Dice points", "mean": nan_to_none(cmp["mean_diff"]),
            "n_pairs": cmp["n_pairs"], "n_seeds": cmp["n_seeds"], "seeds": cmp["seeds"],
            "t_interval": [nan_to_none(v) for v in cmp["t_interval"]],
            "bootstrap_interval": [nan_to_none(v) for v in cmp["bootstrap_interval"]],
            "t_marker": cmp["t_marker"], "bootstrap_marker": cmp["bootstrap_marker"]}


def averaged_baseline(methods: dict) -> tuple[dict, int]:
    """Per seed, ``nnUNetTrainer``'s per-case values averaged over its training trajectories (``nnUNetTrainer`` and
    every ``nnUNetTrainer@t<k>``), for the seeds that have all of them; and the number of trajectories (1 = none
    beyond the baseline: then the result is empty)."""
    runs = [vals for m, vals in methods.items() if _is_baseline(m)]
    if len(runs) < 2:
        return {}, len(runs)
    out = {}
    for seed in sorted(set.intersection(*(set(v) for v in runs))):
        per_run = [v[seed] for v in runs]
        if all(isinstance(v, dict) for v in per_run):
            cases = [c for c in per_run[0] if all(c in v for v in per_run)]
            out[seed] = {c: float(np.mean([v[c] for v in per_run])) for c in cases}
        elif len({len(v) for v in per_run}) == 1:
            out[seed] = [float(x) for x in np.mean(np.array(per_run, dtype=float), axis=0)]
    return out, len(runs)


def aggregate(results: list) -> dict:
    """Per setting group (seeds pooled) and method: Dice over seeds × cases and the paired comparison with the
    baseline (:func:`nnunet_svl.tools.stats.compare_to_baseline`, in Dice points). ``clean`` first."""
    by_group: dict = defaultdict(lambda: defaultdict(dict))   # group -> method -> seed -> values
    runs_of: dict = defaultdict(lambda: defaultdict(list))
    for r in results:
        group, seed = _group_seed(r)
        by_group[group][r.method][seed if seed is not None else -1] = _case_values(r)
        runs_of[group][r.method].append(r)
    groups = sorted(by_group, key=lambda g: not g.startswith("clean"))   # stable: otherwise first-seen order
    out: dict = {}
    for group in groups:
        methods = by_group[group]
        base = methods.get(BASELINE)
        base_avg, n_traj = averaged_baseline(methods)
        rows = []
        for method in _method_order(methods):
            vals = methods[method]
            runs = runs_of[group][method]
            repairs = [r.repair.get("repair_points") for r in runs if r.repair]
            row = {"method": method, "dice": list(pooled_mean_sd(vals)), "n_seeds": len(vals),
                   "seeds": sorted(vals), "trainers": sorted({r.trainer for r in runs}),
                   "seconds_per_epoch": float(np.nanmedian([r.seconds_per_epoch for r in runs]))
                   if any(np.isfinite(r.seconds_per_epoch) for r in runs) else None,
                   "repair_points": float(np.mean(repairs)) if repairs and None not in repairs else None,
                   "diff_vs_baseline": None}
            if method != BASELINE and base is not None:
                row["diff_vs_baseline"] = _diff_entry(compare_to_baseline(vals, base, scale=100.0))
            if not _is_baseline(method) and base_avg:
                common = {seed: v for seed, v in vals.items() if seed in base_avg}
                if common:
                    entry = _diff_entry(compare_to_baseline(common, base_avg, scale=100.0))
                    row["diff_vs_baseline_trajectories"] = {**entry, "n_trajectories": n_traj}
            row["dice"] = [nan_to_none(row["dice"][0]), nan_to_none(row["dice"][1]), row["dice"][2]]
            rows.append(row)
        out[group] = rows
    return out


def noise_cost(results: list) -> dict:
    """Per noisy setting group: what the noise costs ``nnUNetTrainer`` — its Dice on the noisy labels minus its Dice
    on the clean labels, paired by seed and test case (the noisy copies keep the clean dataset's test cases), in Dice
    points with the same intervals as a method's Δ (#12 item 2: the regime). Groups without a clean run of the same
    seed are left out."""
    by_group: dict = defaultdict(dict)     # group -> seed -> values (nnUNetTrainer only)
    for r in results:
        if r.method == BASELINE:
            group, seed = _group_seed(r)
            by_group[group][seed if seed is not None else -1] = _case_values(r)
    clean = by_group.get("clean", {})
    out = {}
    for group, vals in by_group.items():
        common = {seed: v for seed, v in vals.items() if seed in clean}
        if group != "clean" and common:
            out[group] = _diff_entry(compare_to_baseline(common, clean, scale=100.0))
    return out


def _noise_cost_lines(costs: dict) -> list:
    if not costs:
        return []
    lines = ["## What the noise costs `nnUNetTrainer`", "",
             f"`{BASELINE}` on the noisy labels minus `{BASELINE}` on the clean labels (same seed, same test case), "
             "Dice points, intervals as above.", "",
             "| setting | seeds | n | cost (pts) | 95 % t-interval | 95 % bootstrap |", "|---|---|---|---|---|---|"]
    for group, d in costs.items():
        delta = "n/a" if d["mean"] is None else f"{d['mean']:+.2f}"
        lines.append(f"| {group} | {d['n_seeds']} | {d['n_pairs']} | {delta} | {_interval(*d['t_interval'])} | "
                     f"{_interval(*d['bootstrap_interval'])} |")
    return lines + [""]


def _aggregate_lines(groups: dict) -> list:
    lines = ["## Summary over seeds (paired with `nnUNetTrainer`)", "",
             f"Dice: mean ± sd over seeds × test cases (n values). Δ: mean paired difference to `{BASELINE}` "
             "(same seed, same test case; pairs with a missing value dropped) in Dice points; 95 % t-interval over",
             f"the n pairs, and a two-level cluster bootstrap (seeds, then cases within seed; {BOOTSTRAP_RESAMPLES} "
             "resamples, fixed RNG seed) as a robustness check. vs 0: where the t-interval lies (the bootstrap's "
             "when it differs); n/a: fewer than two pairs.", "",
             "| setting | method | seeds | n | Dice | Δ vs nnUNetTrainer (pts) | 95 % t-interval | 95 % bootstrap | "
             "vs 0 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for group, rows in groups.items():
        for row in rows:
            m, sd, n = row["dice"]
            dice = "n/a" if m is None else f"{m:.4f} ± {sd:.4f}"
            d = row["diff_vs_baseline"]
            if d is None:
                delta = t_iv = b_iv = marker = "—" if row["method"] == BASELINE else "n/a"
            else:
                delta = "n/a" if d["mean"] is None else f"{d['mean']:+.2f}"
                t_iv, b_iv = _interval(*d["t_interval"]), _interval(*d["bootstrap_interval"])
                marker = d["t_marker"]
                if d["bootstrap_marker"] not in (marker, "n/a"):
                    marker += f" (bootstrap: {d['bootstrap_marker']})"
            lines.append(f"| {group} | {row['method']} | {row['n_seeds']} | {n} | {dice} | {delta} | {t_iv} | "
                         f"{b_iv} | {marker} |")
    lines.append("")
    traj = [(g, row) for g, rows in groups.items() for row in rows if row.get("diff_vs_baseline_trajectories")]
    if traj:
        k = traj[0][1]["diff_vs_baseline_trajectories"]["n_trajectories"]
        lines += ["## Against `nnUNetTrainer` over its training trajectories", "",
                  f"`{BASELINE}@t<k>`: `{BASELINE}` retrained on the same labels with training seed + 1000·k — no "
                  "effect by construction, so its Δ above is this bench's noise floor: a method that changes even "
                  "one batch leaves the baseline's trajectory, and the t-interval over test cases does not see that. "
                  f"Below, every method against `{BASELINE}` averaged per test case over its {k} trajectories "
                  "(same seeds, same test cases).", "",
                  "| setting | method | seeds | Δ vs nnUNetTrainer, trajectory mean (pts) | 95 % t-interval | "
                  "95 % bootstrap | vs 0 |", "|---|---|---|---|---|---|---|"]
        for group, row in traj:
            d = row["diff_vs_baseline_trajectories"]
            marker = d["t_marker"]
            if d["bootstrap_marker"] not in (marker, "n/a"):
                marker += f" (bootstrap: {d['bootstrap_marker']})"
            delta = "n/a" if d["mean"] is None else f"{d['mean']:+.2f}"
            lines.append(f"| {group} | {row['method']} | {d['n_seeds']} | {delta} | {_interval(*d['t_interval'])} | "
                         f"{_interval(*d['bootstrap_interval'])} | {marker} |")
        lines.append("")
    return lines


def write_report(results: list, out_dir: Path, preset, command: str) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_noise: dict[str, list] = defaultdict(list)
    for r in results:
        by_noise[r.noise].append(r)
    clean_refs = {}
    for r in results:
        group, seed = _group_seed(r)
        if group == "clean" and r.method == BASELINE:
            clean_refs[seed] = r
    groups = aggregate(results)

    lines = ["# nnunet_svl benchmark", "",
             f"- command: `{command}`",
             f"- preset: `{preset.name}` (plans `{preset.plans}`, budget `{preset.budget or 'nnU-Net default'}`)",
             f"- machine: {_machine()}",
             f"- date: {time.strftime('%Y-%m-%d %H:%M')}",
             "- metrics on the clean test labels (mean over foreground classes per case);",
             "  HD95/ASSD in mm; repair = Dice(final training labels, clean) − Dice(noisy, clean) over the noisy",
             "  training cases of the fold, in Dice points; ratios are to `nnUNetTrainer` on the same labels in this run.",
             "- a seed sets both the noise (corruption seed) and the training seed (`NNUNET_SVL_TRAIN_SEED`).",
             ""]
    costs = noise_cost(results)
    lines += _aggregate_lines(groups)
    lines += _noise_cost_lines(costs)
    lines += ["## Per run (mean ± sd over test cases)", ""]
    summary: dict = {"preset": asdict(preset), "command": command, "machine": _machine(), "settings": {},
                     "groups": groups, "noise_cost": {"baseline": BASELINE, "groups": costs},
                     "statistics": {"baseline": BASELINE, "paired_by": "seed and test case",
                                    "difference_units": "Dice points (100 × Dice)", "level": LEVEL,
                                    "t_interval": "Student t over the n pooled paired differences (n − 1 df)",
                                    "bootstrap": "two-level cluster percentile bootstrap: seeds, then cases "
                                                 "within seed",
                                    "bootstrap_resamples": BOOTSTRAP_RESAMPLES,
                                    "bootstrap_rng_seed": BOOTSTRAP_RNG_SEED,
                                    "degenerate": "intervals are null with fewer than two pairs; a t-interval of "
                                                  "one point when all differences are equal"}}
    for noise, runs in by_noise.items():
        base = next((r for r in runs if r.method == BASELINE), None)
        group, seed = _group_seed(runs[0])
        lines += [f"### {noise}", "",
                  "| method | Dice | IoU | HD95 (mm) | ASSD (mm) | label repair (pts) | clean-case labels kept (Dice) | "
                  "s/epoch | time ratio | peak RSS (MB) | memory ratio |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        rows = []
        for r in sorted(runs, key=lambda r: (r.method != BASELINE, r.method)):
            d, i, h, a = (_mean_sd(r.per_case.get(k, [])) for k in ("dice", "iou", "hd95", "assd"))
            repair = r.repair.get("repair_points") if r.repair else None
            kept = r.repair.get("dice_final_vs_clean_on_clean_cases") if r.repair else None
            mem = r.cuda_peak_mb if r.cuda_peak_mb is not None else r.peak_rss_mb
            base_mem = None if base is None else (base.cuda_peak_mb if base.cuda_peak_mb is not None
                                                  else base.peak_rss_mb)
            lines.append(
                f"| {r.method} | {_fmt(d[0], d[1], 4)} | {_fmt(i[0], i[1], 4)} | {_fmt(h[0], h[1], 2)} | "
                f"{_fmt(a[0], a[1], 2)} | {'n/a' if repair is None else f'{repair:+.2f}'} | "
                f"{'n/a' if kept is None else f'{kept:.4f}'} | "
                f"{r.seconds_per_epoch:.1f} | {_ratio(r.seconds_per_epoch, base.seconds_per_epoch) if base else 'n/a'} | "
                f"{mem:.0f} | {_ratio(mem, base_mem) if base_mem else 'n/a'} |")
            rows.append({"method": r.method, "trainer": r.trainer, "dataset": r.dataset, "noise": noise,
                         "group": group, "seed": seed, "dice": d, "iou": i,
                         "hd95": h, "assd": a, "repair": r.repair, "seconds_per_epoch": r.seconds_per_epoch,
                         "peak_rss_mb": r.peak_rss_mb, "cuda_peak_mb": r.cuda_peak_mb,
                         "case_ids": list(getattr(r, "case_ids", None) or []), "per_case": r.per_case})
        clean_ref = clean_refs.get(seed)
        if group != "clean" and clean_ref is not None:
            cd = _mean_sd(clean_ref.per_case["dice"])
            lines += ["", f"Upper bound (`nnUNetTrainer` on clean labels, same seed): Dice {_fmt(cd[0], cd[1], 4)}."]
        lines.append("")
        summary["settings"][noise] = rows
    (out_dir / "benchmark.md").write_text("\n".join(lines) + "\n")
    atomic_write_json(out_dir / "benchmark.json", summary)
    _plot_dice_bars(results, out_dir / "dice_bars.png")
    _plot_dice_vs_ratio(results, out_dir / "dice_vs_ratio.png")
    _plot_curves(results, out_dir / "training_curves.png")
    return summary


def _pooled_dice(results: list) -> dict:
    """(group, method) -> (mean, sd, n) of Dice over seeds × cases."""
    vals: dict = defaultdict(dict)
    for r in results:
        group, seed = _group_seed(r)
        vals[(group, r.method)][seed] = r.per_case.get("dice", [])
    return {k: pooled_mean_sd(v) for k, v in vals.items()}


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _plot_dice_bars(results: list, path: Path) -> None:
    """One bar per setting group and method: Dice mean ± sd over seeds × test cases."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pooled = _pooled_dice(results)
    settings = sorted(dict.fromkeys(g for g, _ in pooled), key=lambda g: not g.startswith("clean"))  # stable
    methods = _method_order(m for _, m in pooled)
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(settings) * len(methods) / 2), 3.8))
    width = 0.8 / max(1, len(methods))
    for j, m in enumerate(methods):
        means, sds, xs = [], [], []
        for k, s in enumerate(settings):
            if (s, m) not in pooled:
                continue
            mean, sd, _ = pooled[(s, m)]
            means.append(mean), sds.append(sd), xs.append(k + (j - (len(methods) - 1) / 2) * width)
        ax.bar(xs, means, width, yerr=sds, capsize=3, label=m)
    ax.set_xticks(range(len(settings)), settings)
    ax.set_ylabel("Dice on clean test labels")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)


def _plot_dice_vs_ratio(results: list, path: Path) -> None:
    """Dice (seeds pooled) against the noise ratio ρ, one line per protocol and method (only when several ratios
    were run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict = defaultdict(list)
    for (group, method), (mean, _, _) in _pooled_dice(results).items():
        if group.startswith("clean") or "_r" not in group:
            continue
        protocol, rest = group.split("_r", 1)
        try:
            ratio = float(rest.split("_")[0].replace("p", "."))
        except ValueError:
            continue
        series[(protocol, method)].append((ratio, mean))
    if not series or max(len({x for x, _ in v}) for v in series.values()) < 2:
        return
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for (protocol, method), pts in sorted(series.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{method} ({protocol})")
    ax.set_xlabel("noisy-case ratio ρ")
    ax.set_ylabel("Dice on clean test labels")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    _save(fig, path)


CURVE_KEYS = ("train_losses", "val_losses", "mean_fg_dice", "mem_noisy_vs_given", "mem_noisy_vs_clean",
              "mem_clean_vs_given", "round_flipped", "q_flip_precision_noisy", "q_dice_in_force_noisy",
              "q_dice_in_force_clean", "q_flag_recall", "q_flag_precision", "rl_mean_reward", "dale_omega_mean")
"""Panels of training_curves.png: nnU-Net's losses and pseudo Dice, the memorisation curves (Dice of the network on
the noisy training cases against their noisy and their clean labels, and on the clean cases), and the correction
quality per label round (all from the checkpoint's logger; diagnostics need the clean labels, which the benchmark
names)."""


def _plot_curves(results: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in CURVE_KEYS if any(k in r.curves for r in results)]
    if not keys:
        return
    cols = 3
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 2.9 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for i, r in enumerate(results):   # one colour per run in every panel, so the single legend reads everywhere
            if key in r.curves:
                # per-round keys are NaN in epochs without a round: draw the rounds' points, joined
                pts = [(e, v) for e, v in enumerate(r.curves[key]) if v == v]
                ax.plot([e for e, _ in pts], [v for _, v in pts], lw=1, marker="o", ms=2, color=f"C{i % 10}",
                        linestyle="--" if r.noise.startswith("clean") else "-", label=f"{r.method} ({r.noise})")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=6)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    _save(fig, path)
