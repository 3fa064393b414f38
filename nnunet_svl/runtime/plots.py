"""PNG plots a person would rather look at than read (training curves of the method scalars)."""
from __future__ import annotations

import math
import os
from typing import Iterable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from nnunet_svl.runtime.atomic_io import atomic_write_bytes  # noqa: E402


def plot_training_curves(logged: Mapping[str, Sequence[float]], keys: Iterable[str], path: str | os.PathLike,
                         combined: Mapping[str, Sequence[str]] = None) -> None:
    """One small panel per logged key (x = epoch), plus nnU-Net's train/val loss for reference; ``combined`` maps a
    panel title to several keys drawn together (e.g. the memorisation curves)."""
    keys = ["train_losses", "val_losses"] + [k for k in keys if k in logged]
    keys = [k for k in keys if len(logged.get(k, [])) > 0]
    panels = [(k, [k]) for k in keys]
    for title, members in (combined or {}).items():
        members = [k for k in members if len(logged.get(k, [])) > 0]
        if members:
            panels.insert(2, (title, members))
    n = len(panels)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    for ax, (title, members) in zip(axes.flat, panels):
        for key in members:
            values = [float("nan") if v is None else float(v) for v in logged[key]]
            ax.plot(range(len(values)), values, marker="o", ms=2.5, lw=1.2, label=key if len(members) > 1 else None)
        if len(members) > 1:
            ax.legend(fontsize=6)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    # fixed margins: tight_layout costs ~0.8 s on 20 panels and this is redrawn during training
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.6 / (2.8 * rows), top=1 - 0.35 / (2.8 * rows),
                        hspace=0.75, wspace=0.3)
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
