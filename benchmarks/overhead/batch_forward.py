"""Seconds per patch of one forward pass (no gradient, eval mode) of the benchmark's narrow network at batch sizes 1,
2, 4 and 8 on this machine's CPU: why label rounds infer several tiles per call (config ``round_tile_batch``).

usage: python batch_forward.py PLANS.json [THREADS]   (e.g. WS/preprocessed/Dataset901_*/nnUNetPlans_narrow.json)
"""
import sys
import time

import torch
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

plans = PlansManager(sys.argv[1])
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
cm = plans.get_configuration("3d_fullres")
net = get_network_from_plans(cm.network_arch_class_name, cm.network_arch_init_kwargs,
                             cm.network_arch_init_kwargs_req_import, 1, 2, allow_init=True,
                             deep_supervision=False).eval()
patch = tuple(cm.patch_size)
results = {b: [] for b in (1, 2, 4, 8)}
with torch.no_grad():
    for _ in range(3):                       # interleaved repetitions: load changes hit every batch size alike
        for b in results:
            x = torch.randn(b, 1, *patch)
            net(x)
            t = time.perf_counter()
            for _ in range(3):
                net(x)
            results[b].append((time.perf_counter() - t) / 3 / b)
print(f"patch {patch}, {torch.get_num_threads()} threads: seconds per patch (median of 3 repetitions)")
for b, v in results.items():
    print(f"  batch {b}: {sorted(v)[1]:.3f}")
