"""Data path of a DALE / gated trainer: what one training sample costs to read from the label store, before and after
the blosc2 layout (issue "overhead", item 3). Before: ``np.load`` of the case's compressed npz (label int16, ω and m
float16, whole case), re-encoding of the weights and a concatenation, then nnU-Net's crop. After: the store's int16
blosc2 array (label, ω code, m code), chunked for the patch with nnU-Net's ``comp_blosc2_params``, cropped unread.
Also: the write of one case in a label round. Single thread, best of ``--repeat``.

    python benchmarks/overhead/data_path.py [--repeat 5] [-o data_path.json]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from acvl_utils.cropping_and_padding.bounding_boxes import crop_and_pad_nd

from nnunet_svl.runtime.atomic_io import atomic_savez
from nnunet_svl.runtime.label_store import LabelStore, encode_weight_channel


def _best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def measure(shape, patch, repeat, root: Path) -> dict:
    rng = np.random.default_rng(0)
    grid = np.ogrid[tuple(slice(0, s) for s in shape)]
    inside = sum(((g - s / 2) / (s / 5)) ** 2 for g, s in zip(grid, shape)) <= 1
    label = inside.astype(np.int16)[None]
    omega = rng.uniform(0.2, 3.0, label.shape).astype(np.float32)
    fuzzy = np.clip(rng.normal(0.5, 0.2, label.shape), 0, 1).astype(np.float32)
    old = root / f"old_{'x'.join(map(str, shape))}.npz"

    def write_old():
        atomic_savez(old, label=label, omega=omega.astype(np.float16), fuzzy=fuzzy.astype(np.float16))  # as before

    tag = "x".join(map(str, shape))
    writes = LabelStore(root / f"writes_{tag}", patch_size=patch)       # staged only: the write itself is timed
    rounds = iter(range(1, 1000))

    def write_new():
        writes.stage_case(next(rounds), "a", label, omega=omega, fuzzy=fuzzy)

    t_write_old, t_write_new = _best(write_old, repeat), _best(write_new, repeat)
    store = LabelStore(root / f"store_{tag}", patch_size=patch)
    store.stage_case(1, "a", label, omega=omega, fuzzy=fuzzy)
    store.commit_round(1, ["a"])
    starts = [[int(rng.integers(-p // 3, s - 2 * p // 3)) for s, p in zip(shape, patch)] for _ in range(repeat)]
    it_old, it_new = iter(starts * 2), iter(starts * 2)

    def read_old():
        lo = next(it_old)
        with np.load(old) as z:
            chans = [z["label"], encode_weight_channel(z["omega"]), encode_weight_channel(z["fuzzy"])]
        seg = np.concatenate(chans, axis=0)
        return crop_and_pad_nd(seg, [[a, a + p] for a, p in zip(lo, patch)], -1, cast_cropped_to=np.int16)

    def read_new():
        lo = next(it_new)
        arr, _ = store.open_case("a")
        return crop_and_pad_nd(arr, [[a, a + p] for a, p in zip(lo, patch)], -1, cast_cropped_to=np.int16)

    a, b = read_old(), read_new()       # same patch; weights differ by float16 rounding of the old layout (≤ 2 codes)
    assert np.array_equal(a[0], b[0]) and np.abs(a[1:].astype(int) - b[1:]).max() <= 2
    it_old, it_new = iter(starts * 2), iter(starts * 2)
    t_old, t_new = _best(read_old, repeat), _best(read_new, repeat)
    case_dir = store.case_file("a").parent
    return {"case_shape": list(shape), "patch": list(patch),
            "read_ms_per_sample": {"npz_whole_case": round(t_old * 1e3, 1), "blosc2_patch": round(t_new * 1e3, 1),
                                   "ratio": round(t_old / t_new, 1)},
            "write_ms_per_case": {"npz_compressed": round(t_write_old * 1e3, 1),
                                  "blosc2": round(t_write_new * 1e3, 1), "ratio": round(t_write_old / t_write_new, 1)},
            "disk_mb": {"npz": round(old.stat().st_size / 2 ** 20, 2),
                        "blosc2": round(sum(p.stat().st_size for p in case_dir.glob("a.b2nd")) / 2 ** 20, 2)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("-o", "--output", default=None)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for shape, patch in (((40, 40, 40), (40, 40, 40)), ((128, 128, 128), (128, 128, 128)),
                             ((256, 256, 192), (128, 128, 128)), ((160, 192, 160), (112, 128, 112))):
            rows.append(measure(shape, patch, a.repeat, Path(d)))
            print(json.dumps(rows[-1]), flush=True)
    if a.output:
        Path(a.output).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
