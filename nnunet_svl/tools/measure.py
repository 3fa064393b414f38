"""Run a console script in-process and record its wall time and peak memory (benchmark overhead ratios).

    python -m nnunet_svl.tools.measure OUT.json nnUNetv2_train 991 3d_fullres 0 -tr nnUNetTrainerSVLDRL_bench ...

Peak host memory is the process's maximum resident set size (getrusage); on CUDA also the peak allocated GPU memory.
"""
from __future__ import annotations

import resource
import sys
import time
from importlib.metadata import entry_points

from nnunet_svl.runtime.atomic_io import atomic_write_json


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m nnunet_svl.tools.measure OUT.json CONSOLE_SCRIPT [ARGS...]", file=sys.stderr)
        return 2
    out, script, args = argv[0], argv[1], argv[2:]
    matches = [ep for ep in entry_points(group="console_scripts") if ep.name == script]
    if not matches:
        print(f"error: no console script named {script}", file=sys.stderr)
        return 2
    func = matches[0].load()
    sys.argv = [script, *args]
    t0 = time.time()
    code = 0
    try:
        result = func()
        code = int(result) if isinstance(result, int) else 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        record = {"script": script, "args": args, "exit_code": code, "seconds": time.time() - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
        try:
            import torch

            if torch.cuda.is_available() and torch.cuda.is_initialized():
                record["cuda_peak_allocated_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
        except Exception:
            pass
        atomic_write_json(out, record)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
