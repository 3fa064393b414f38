"""The benchmark's outputs: ``benchmark.md`` (tables), ``benchmark.json`` (all numbers) and PNG plots."""
from __future__ import annotations

import io
import math
import platform
import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

import numpy as np

from nnunet_svl.runtime.atomic_io import atomic_write_bytes, atomic_write_json


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


def write_report(results: list, out_dir: Path, preset, command: str) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_noise: dict[str, list] = defaultdict(list)
    for r in results:
        by_noise[r.noise].append(r)
    clean = {r.method: r for r in by_noise.get("clean", [])}
    clean_ref = clean.get("nnUNetTrainer")

    lines = ["# nnunet_svl benchmark", "",
             f"- command: `{command}`",
             f"- preset: `{preset.name}` (plans `{preset.plans}`, budget `{preset.budget or 'nnU-Net default'}`)",
             f"- machine: {_machine()}",
             f"- date: {time.strftime('%Y-%m-%d %H:%M')}",
             "- metrics on the clean test labels, mean ± sd over test cases (mean over foreground classes per case);",
             "  HD95/ASSD in mm; repair = Dice(final training labels, clean) − Dice(noisy, clean) over the noisy",
             "  training cases of the fold, in Dice points; ratios are to `nnUNetTrainer` on the same labels in this run.",
             ""]
    summary: dict = {"preset": asdict(preset), "command": command, "machine": _machine(), "settings": {}}
    for noise, runs in by_noise.items():
        base = next((r for r in runs if r.method == "nnUNetTrainer"), None)
        lines += [f"## {noise}", "",
                  "| method | Dice | IoU | HD95 (mm) | ASSD (mm) | label repair (pts) | clean-case labels kept (Dice) | "
                  "s/epoch | time ratio | peak RSS (MB) | memory ratio |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        rows = []
        for r in runs:
            d, i, h, a = (_mean_sd(r.per_case[k]) for k in ("dice", "iou", "hd95", "assd"))
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
            rows.append({"method": r.method, "trainer": r.trainer, "dataset": r.dataset, "dice": d, "iou": i,
                         "hd95": h, "assd": a, "repair": r.repair, "seconds_per_epoch": r.seconds_per_epoch,
                         "peak_rss_mb": r.peak_rss_mb, "cuda_peak_mb": r.cuda_peak_mb,
                         "per_case": r.per_case})
        if noise != "clean" and clean_ref is not None:
            cd = _mean_sd(clean_ref.per_case["dice"])
            lines += ["", f"Upper bound (`nnUNetTrainer` on clean labels): Dice {_fmt(cd[0], cd[1], 4)}."]
        lines.append("")
        summary["settings"][noise] = rows
    (out_dir / "benchmark.md").write_text("\n".join(lines) + "\n")
    atomic_write_json(out_dir / "benchmark.json", summary)
    _plot_dice_bars(by_noise, out_dir / "dice_bars.png")
    _plot_dice_vs_ratio(by_noise, out_dir / "dice_vs_ratio.png")
    _plot_curves(results, out_dir / "training_curves.png")
    return summary


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _plot_dice_bars(by_noise: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = list(by_noise)
    methods = sorted({r.method for rs in by_noise.values() for r in rs}, key=lambda m: (m != "nnUNetTrainer", m))
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(settings) * len(methods) / 2), 3.8))
    width = 0.8 / max(1, len(methods))
    for j, m in enumerate(methods):
        means, sds, xs = [], [], []
        for k, s in enumerate(settings):
            r = next((r for r in by_noise[s] if r.method == m), None)
            if r is None:
                continue
            mean, sd, _ = _mean_sd(r.per_case["dice"])
            means.append(mean), sds.append(sd), xs.append(k + (j - (len(methods) - 1) / 2) * width)
        ax.bar(xs, means, width, yerr=sds, capsize=3, label=m)
    ax.set_xticks(range(len(settings)), settings)
    ax.set_ylabel("Dice on clean test labels")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)


def _plot_dice_vs_ratio(by_noise: dict, path: Path) -> None:
    """Dice against the noise ratio ρ, one line per protocol and method (only when several ratios were run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict = defaultdict(list)
    for setting, runs in by_noise.items():
        if setting == "clean" or "_r" not in setting:
            continue
        protocol, rest = setting.split("_r", 1)
        ratio = float(rest.split("_")[0].replace("p", "."))
        for r in runs:
            series[(protocol, r.method)].append((ratio, _mean_sd(r.per_case["dice"])[0]))
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


CURVE_KEYS = ("train_losses", "val_losses", "rl_mean_reward", "dale_omega_mean", "round_flipped", "mean_fg_dice")


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
                        linestyle="--" if r.noise == "clean" else "-", label=f"{r.method} ({r.noise})")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=6)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    _save(fig, path)
