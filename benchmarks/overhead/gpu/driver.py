"""Time one nnU-Net trainer in-process (issue #15, GPU ratio): per-epoch wall times from nnU-Net's own logger
(epoch_start/end_timestamps), the plugin's label-round seconds, and peak GPU memory.

usage: driver.py TRAINER PLANS EPOCHS ITERS VAL_ITERS DEVICE RESULTS_JSON RUN_KEY

nnU-Net paths come from the environment (nnUNet_preprocessed, nnUNet_results). The trainer is built exactly as
nnUNetv2_train builds it (get_trainer_from_args, cudnn.benchmark on CUDA), then only the budget is changed:
num_epochs, num_iterations_per_epoch, num_val_iterations_per_epoch. Checkpoint writing and nnU-Net's progress.png
are switched off for every trainer alike (both happen outside nnU-Net's epoch timestamps anyway). No final
validation (it needs SimpleITK export). RESULTS_JSON is rewritten after every epoch (read-modify-write of the
RUN_KEY entry) so that a run killed by a timeout still leaves its completed epochs.
"""
import json
import math
import os
import sys
import time

T_PROCESS = time.time()

import torch
from torch.backends import cudnn

trainer_name, plans, epochs, iters, val_iters, device_s, out_json, run_key = sys.argv[1:9]
epochs, iters, val_iters = int(epochs), int(iters), int(val_iters)
device = torch.device(device_s)

from nnunetv2.run.run_training import get_trainer_from_args  # noqa: E402

rec = {"trainer": trainer_name, "plans": plans, "epochs_planned": epochs, "iterations_per_epoch": iters,
       "val_iterations_per_epoch": val_iters, "device": device_s, "status": "starting",
       "torch": torch.__version__, "cuda": torch.version.cuda,
       "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
       "nnUNet_compile": os.environ.get("nnUNet_compile"), "nnUNet_n_proc_DA": os.environ.get("nnUNet_n_proc_DA"),
       "epochs": []}


def write():
    data = {}
    if os.path.isfile(out_json):
        with open(out_json) as f:
            data = json.load(f)
    data[run_key] = rec
    tmp = out_json + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, default=float)
    os.replace(tmp, out_json)


def clean(v):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


if device.type == "cuda":
    cudnn.deterministic = False
    cudnn.benchmark = True
    torch.cuda.reset_peak_memory_stats()

trainer = get_trainer_from_args("802", "3d_fullres", "all", trainer_name, plans, device=device)
trainer.num_epochs = epochs
trainer.num_iterations_per_epoch = iters
trainer.num_val_iterations_per_epoch = val_iters
trainer.disable_checkpointing = True
trainer.logger.plot_progress_png = lambda *a, **k: None
cm = trainer.configuration_manager
rec.update(patch_size=list(cm.patch_size), batch_size=int(cm.batch_size),
           features_per_stage=cm.network_arch_init_kwargs.get("features_per_stage"),
           svl_config=(trainer.cfg.to_dict() if hasattr(trainer, "cfg") else None),
           trainer_class=type(trainer).__name__, log_file=trainer.log_file)
write()

log = trainer.logger.local_logger.my_fantastic_logging
orig_on_epoch_end = trainer.on_epoch_end
orig_on_train_start = trainer.on_train_start


def on_train_start():
    t = time.time()
    orig_on_train_start()
    rec["on_train_start_s"] = time.time() - t     # initialize, data loaders, the plugin's initial label-store pass
    rec["peak_alloc_after_train_start_MiB"] = (torch.cuda.max_memory_allocated() / 2 ** 20
                                               if device.type == "cuda" else None)
    rec["status"] = "training"
    write()


def on_epoch_end():
    e = trainer.current_epoch
    orig_on_epoch_end()           # logs epoch_end_timestamps first, then (outside the timestamps) prints / plots
    start, end = log["epoch_start_timestamps"][e], log["epoch_end_timestamps"][e]
    ep = {"epoch": e, "start": start, "end": end, "seconds": end - start,
          "train_loss": clean(log["train_losses"][e])}
    for key in ("round_seconds", "round_index", "round_flipped", "svl_stage", "rl_mean_reward", "dale_weight_mean",
                "dale_omega_mean"):
        if key in log and len(log[key]) > e:
            ep[key] = clean(log[key][e])
    if device.type == "cuda":
        torch.cuda.synchronize()
        ep["peak_alloc_MiB_so_far"] = torch.cuda.max_memory_allocated() / 2 ** 20
        ep["peak_reserved_MiB_so_far"] = torch.cuda.max_memory_reserved() / 2 ** 20
    rec["epochs"].append(ep)
    secs = [x["seconds"] for x in rec["epochs"]]
    rec["epochs_done"] = len(secs)
    rec["mean_epoch_s"] = sum(secs) / len(secs)
    rec["mean_epoch_s_excl_first"] = sum(secs[1:]) / len(secs[1:]) if len(secs) > 1 else None
    rounds = [x.get("round_seconds") for x in rec["epochs"] if x.get("round_seconds") is not None]
    rec["label_rounds"] = len(rounds)
    rec["round_seconds_total"] = sum(rounds)
    rec["mean_epoch_s_minus_rounds"] = (sum(secs) - sum(rounds)) / len(secs)
    rec["wall_first_start_to_last_end_s"] = end - rec["epochs"][0]["start"]
    if device.type == "cuda":
        rec["peak_alloc_MiB"] = ep["peak_alloc_MiB_so_far"]
        rec["peak_reserved_MiB"] = ep["peak_reserved_MiB_so_far"]
    write()
    print(f"[driver] {run_key} epoch {e}: {end - start:.2f} s, round {ep.get('round_seconds')}, "
          f"peak {rec.get('peak_alloc_MiB')} MiB", flush=True)


trainer.on_train_start = on_train_start
trainer.on_epoch_end = on_epoch_end

t0 = time.time()
trainer.run_training()
rec["run_training_s"] = time.time() - t0
rec["process_s"] = time.time() - T_PROCESS
rec["status"] = "done"
if device.type == "cuda":
    rec["peak_alloc_MiB"] = torch.cuda.max_memory_allocated() / 2 ** 20
    rec["peak_reserved_MiB"] = torch.cuda.max_memory_reserved() / 2 ** 20
# how many training cases the teacher gate flagged (from the trainer's log)
try:
    with open(trainer.log_file) as f:
        rec["flag_lines"] = [ln.strip()[:300] for ln in f if "flag" in ln.lower()][-6:]
except OSError:
    pass
write()
print(f"[driver] {run_key} done: mean {rec.get('mean_epoch_s')} s/epoch, peak {rec.get('peak_alloc_MiB')} MiB",
      flush=True)
# nnU-Net's data-loader workers can keep the interpreter alive; leave at once
sys.stdout.flush()
os._exit(0)
