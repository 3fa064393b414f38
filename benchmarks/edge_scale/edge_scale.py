"""What the edge repair costs at scale (#15 item 4): one case of 128³ with an over-drawn lesion of radius 10, 20 or
35 voxels (label 4 voxels outside a blurred edge, noise sd 1 against a contrast of 1.75), timed through the label-round
part itself (``EdgeRepairPart.repaired``): the first call (the fits and up to 3 moves, once per case before
training) and a later round's call (every label round hands the repaired label to the teacher gate). CPU seconds of
this process (``time.process_time``), so a shared machine does not inflate them.

    PYTHONPATH=TREE python benchmarks/edge_scale/edge_scale.py OUT.json     # TREE: the checkout to time

Projection: 200 such cases, 10 label rounds (``correction_every`` 0.1), as in BENCHMARKS.md's round-share figure.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np
from scipy import ndimage

from nnunet_svl.edge.part import EdgeRepairPart
from nnunet_svl.parts.base import LabelSpace
from nnunet_svl.runtime.config import SVLConfig

BINARY = LabelSpace(foreground_labels=(1,), ignore_label=None, has_regions=False, num_heads=2)


def case(radius: float, shape=(128, 128, 128)):
    g = np.indices(shape, dtype=np.float32) + 0.5
    r = np.sqrt(((g - np.array(shape, dtype=np.float32)[:, None, None, None] / 2) ** 2).sum(0))
    image = 1.75 * ndimage.gaussian_filter((r < radius).astype(np.float32), 1.0)
    image += np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    return image[None], (r < radius + 4.0).astype(np.int16)[None]


def main(out: str) -> None:
    rows = []
    for radius in (10.0, 20.0, 35.0):
        image, label = case(radius)
        part = EdgeRepairPart(SVLConfig(edge_repair=True, edge_repair_steps=3), BINARY)
        part.log = lambda line: None
        t0 = time.process_time()
        first = part.repaired("c", image, label)
        t1 = time.process_time()
        rounds = [part.repaired("c", None, label) for _ in range(3)]
        t2 = time.process_time()
        assert all(np.array_equal(r, first) for r in rounds)
        fits = [part.fits["c"].offset] + [f.offset for f in part.refits["c"]]
        rows.append({"radius": radius, "first_s": t1 - t0, "round_s": (t2 - t1) / 3, "fits": fits,
                     "moved": int((first != label).sum())})
        print(rows[-1], flush=True)
    big = rows[-1]
    projection = {"cases": 200, "rounds": 10, "first_s": 200 * big["first_s"],
                  "rounds_s": 200 * 10 * big["round_s"]}
    print("200 cases like the radius-35 one:", projection)
    with open(out, "w") as f:
        json.dump({"rows": rows, "projection_radius35": projection}, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
