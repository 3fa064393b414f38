"""Profile one nnU-Net trainer in-process (issue #15 item 1: where a training step and a label round spend their time).

usage: prof_svl.py TRAINER PLANS DEVICE OUTDIR

Env knobs: NUM_EPOCHS (the schedule's length; 8 as in the timing run, so that stages / rounds fall as they did there),
PRE_EPOCHS (epochs run the nnU-Net way before measuring; 2: epoch 0 = transition stage + DALE stats round which
flags cases, epoch 1 = full RL + first correction round, epoch 2 = the measured one: full RL, DALE fuzzy voxels on),
ITERS (iterations of a pre-epoch), VAL_ITERS, N_WARM (unmeasured steps of the measured epoch), N_TIMED (steps timed
without the profiler), N_PROF (steps under torch.profiler), CPROFILE (1: cProfile the last pre-epoch's steps and
round, SVL trainers only).

The trainer is built exactly as driver.py builds it (get_trainer_from_args, cudnn.benchmark on CUDA, budget changed
only). Then nnU-Net's run_training loop is driven by hand (same hooks in the same order) for PRE_EPOCHS epochs; in
the measured epoch: N_WARM steps, N_TIMED steps timed (data wait and train_step separately, torch.cuda.synchronize
around train_step), N_PROF steps under torch.profiler (CPU+CUDA, no shapes, no stacks), then ONE label round
(trainer.run_label_round(), the hook on_epoch_end calls: nnunet_svl/trainers/method.py) under torch.profiler.

Python functions of nnunet_svl are wrapped (in this process only) in torch.profiler.record_function ranges named
'svl:<function>' so that the tables attribute CPU and CUDA time to source functions; 'drv:' ranges are this
driver's own (data wait, synchronisation).

Writes OUTDIR/report_<TRAINER>.txt (appended phase by phase), OUTDIR/results.json (read-modify-write, key TRAINER)
and OUTDIR/cprofile_<TRAINER>.txt.
"""
import cProfile
import functools
import io
import json
import os
import pstats
import sys
import time

T_PROCESS = time.time()

import numpy as np
import torch
from torch.backends import cudnn
from torch.profiler import ProfilerActivity, profile, record_function

trainer_name, plans, device_s, outdir = sys.argv[1:5]
device = torch.device(device_s)
CUDA = device.type == "cuda"
env = os.environ.get
NUM_EPOCHS = int(env("NUM_EPOCHS", "8"))
PRE_EPOCHS = int(env("PRE_EPOCHS", "2"))
ITERS = int(env("ITERS", "20"))
VAL_ITERS = int(env("VAL_ITERS", "1"))
N_WARM = int(env("N_WARM", "5"))
N_TIMED = int(env("N_TIMED", "15"))
N_PROF = int(env("N_PROF", "15"))
CPROFILE = env("CPROFILE", "1") == "1"
ROW_LIMIT = 30

os.makedirs(outdir, exist_ok=True)
REPORT = os.path.join(outdir, f"report_{trainer_name}.txt")
RESULTS = os.path.join(outdir, "results.json")
CPROF = os.path.join(outdir, f"cprofile_{trainer_name}.txt")
rec = {"trainer": trainer_name, "plans": plans, "device": device_s, "torch": torch.__version__,
       "gpu": torch.cuda.get_device_name(0) if CUDA else None, "num_epochs": NUM_EPOCHS, "pre_epochs": PRE_EPOCHS,
       "iters": ITERS, "n_warm": N_WARM, "n_timed": N_TIMED, "n_prof": N_PROF, "status": "starting"}


def log(msg):
    print(f"[profile {trainer_name} {time.time() - T_PROCESS:6.1f}s] {msg}", flush=True)


def report(title, text):
    block = f"\n{'=' * 30} {trainer_name}: {title} {'=' * 30}\n{text}\n"
    with open(REPORT, "a") as f:
        f.write(block)
    print(block, flush=True)


def write():
    data = {}
    if os.path.isfile(RESULTS):
        try:
            with open(RESULTS) as f:
                data = json.load(f)
        except ValueError:
            data = {}
    data[trainer_name] = rec
    tmp = RESULTS + f".{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, default=str)
    os.replace(tmp, RESULTS)


def sync():
    if CUDA:
        with record_function("drv:cuda.synchronize"):
            torch.cuda.synchronize()


# ------------------------------------------------------------------------------------------ record_function wrappers
WRAPPED = []


def _wrap_fn(fn, label):
    @functools.wraps(fn)
    def wrapper(*a, **k):
        with record_function(label):
            return fn(*a, **k)
    wrapper.__profile_wrapped__ = True
    return wrapper


def wrap(owner, name, label=None):
    """Replace owner.name (a class's method or a module's function) by a record_function-wrapped one."""
    fn = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
    if fn is None or getattr(fn, "__profile_wrapped__", False):
        return
    if isinstance(fn, (staticmethod, classmethod, property)):
        return
    if not callable(fn):
        return
    label = label or f"svl:{getattr(owner, '__name__', type(owner).__name__)}.{name}"
    setattr(owner, name, _wrap_fn(fn, label))
    WRAPPED.append(label)


def install_wrappers():
    import importlib

    def mod(name):
        try:
            return importlib.import_module(name)
        except Exception as e:  # noqa: BLE001
            log(f"no module {name}: {e}")
            return None

    targets = {
        "nnunet_svl.trainers.base": {"nnUNetTrainerSVLBase": ["split_target", "_clip_gradients", "record_scalar",
                                                              "_log_epoch_scalars", "_epoch_floats"]},
        "nnunet_svl.trainers.method": {"nnUNetTrainerSVLMethod": [
            "compute_losses", "_case_arrays", "_infer", "_forward", "_forward_teacher", "_segment",
            "after_optimizer_step", "_references", "_observe_case", "finish_round_quality"],
            "": ["sliding_window_maps"]},
        "nnunet_svl.trainers.diagnostics": {"DiagnosticsMixin": ["preprocessed_case", "given_label",
                                                                 "finish_round_quality", "observe_round_case"]},
        "nnunet_svl.parts.label_round": {"LabelRoundEngine": ["process_case", "plan", "excluded_cases"],
                                         "": ["agreement_counts", "run_synchronised_round"]},
        "nnunet_svl.teacher.part": {"TeacherGatePart": ["after_step", "update_case", "patch_maps", "forward",
                                                        "finish_round", "touches"],
                                    "": ["disagreement_score", "flag_cases"]},
        "nnunet_svl.teacher.ema": {"EMATeacher": ["update", "decay_now"]},
        "nnunet_svl.dale.part": {"DalePart": ["segmentation_loss", "add_loss_terms", "update_case",
                                              "after_label_change", "voxel_loss", "maps", "apply_gate",
                                              "normaliser_counts", "finish_round"],
                                 "": ["update_loss_stats", "reset_voxels", "boundary_proximity",
                                      "class_conditional_alignment_loss", "standardise_features",
                                      "class_balanced_weights", "confidence_terms"]},
        "nnunet_svl.rl.part": {"VA3CPart": ["add_loss_terms", "rl_losses", "observer_and_state", "patch_maps",
                                            "update_case", "gated_flips", "plan_round"],
                               "": ["rollout", "a3c_losses", "refine", "propose_corrections",
                                    "class_probabilities"]},
        "nnunet_svl.runtime.label_store": {"LabelStore": ["load", "load_stats", "stage_case", "commit_round",
                                                          "open_case", "manifest"]},
    }
    for mname, spec in targets.items():
        m = mod(mname)
        if m is None:
            continue
        for cname, names in spec.items():
            owner = m if cname == "" else getattr(m, cname, None)
            if owner is None:
                log(f"no {mname}.{cname}")
                continue
            for n in names:
                if cname == "":
                    wrap(m, n, f"svl:{n}")
                else:
                    wrap(owner, n)
    # functions called inside the modules above (module globals are looked up at call time)
    for mname, names in {
            "nnunet_svl.rl.rollout": ["component_penalties", "_act", "composite_reward", "nstep_returns",
                                      "extra_components", "_valid_count"],
            "nnunet_svl.rl.reward": ["extra_components", "soft_dice", "voxel_total_variation",
                                     "tv_per_surface_voxel"],
            "nnunet_svl.dale.part": ["fuzzy_membership", "normalised_entropy", "label_confidence",
                                     "label_confidence_across_cases", "std"],
            "nnunet_svl.trainers.case_inference": ["_sliding_window_nd"],
            "nnunet_svl.parts.label_round": ["agreement_shortfall"]}.items():
        m = mod(mname)
        if m is not None:
            for n in names:
                if hasattr(m, n):
                    wrap(m, n, f"svl:{n}")
    for mname, cname, names in (("nnunet_svl.rl.head", "VA3CHead", ["embed", "decide", "neighbourhood_mean"]),
                                ("nnunet_svl.rl.returns", "RewardMapConv", ["forward"]),
                                ("nnunet_svl.rl.rollout", "BeliefObserver", ["observe"]),
                                ("nnunet_svl.rl.rollout", "IntensityObserver", ["observe"]),
                                ("nnunet_svl.dale.weighted_loss", "VoxelWeightedDeepSupervisionLoss", ["forward"])):
        m = mod(mname)
        owner = getattr(m, cname, None) if m is not None else None
        if owner is not None:
            for n in names:
                wrap(owner, n)


# ------------------------------------------------------------------------------------------ analysis helpers
def table(ka, sort):
    for key in (sort, sort.replace("cuda", "device"), sort.replace("device", "cuda")):
        try:
            return ka.table(sort_by=key, row_limit=ROW_LIMIT, max_name_column_width=70)
        except Exception as e:  # noqa: BLE001
            err = e
    return f"(table sorted by {sort} failed: {err})"


def is_sync(name):
    return ("Synchronize" in name or "Memcpy DtoH" in name or name in ("aten::item", "aten::_local_scalar_dense")
            or name == "cudaMemcpyAsync" or name == "cudaMemcpy")


def evt_dev_type_cpu(e):
    dt = getattr(e, "device_type", None)
    return dt is None or "CPU" in str(dt)


def analyse(prof, n_units, unit):
    """Tables (self CUDA, self CPU), the svl:/drv: ranges (inclusive CPU / CUDA time), sync counts per unit."""
    out = {}
    ka = prof.key_averages()
    out["table_self_cuda"] = table(ka, "self_cuda_time_total") if CUDA else "(no CUDA)"
    out["table_self_cpu"] = table(ka, "self_cpu_time_total")
    events = list(prof.events())
    named = [e for e in events if e.name.startswith(("svl:", "drv:"))]
    ranges = [e for e in named if evt_dev_type_cpu(e)]          # the CPU-side record_function ranges
    gpu_spans = {}                                               # their GPU-side twins (gpu_user_annotation), if any
    for e in named:
        if not evt_dev_type_cpu(e):
            g = gpu_spans.setdefault(e.name, [0, 0.0])
            g[0] += 1
            g[1] += e.time_range.elapsed_us() / 1e3
    # inclusive per-range totals
    agg = {}
    for e in ranges:
        a = agg.setdefault(e.name, [0, 0.0, 0.0])
        a[0] += 1
        a[1] += e.time_range.elapsed_us() / 1e3
        try:
            a[2] += e.device_time_total / 1e3
        except Exception:  # noqa: BLE001
            pass
    rows = sorted(agg.items(), key=lambda kv: -kv[1][1])
    lines = [f"{'range (inclusive; CUDA = kernels launched inside, GPU span = gpu annotation)':78s} {'calls':>6s} "
             f"{'/' + unit:>7s} {'CPU ms':>10s} {'CPU ms/' + unit:>12s} {'CUDA ms':>10s} {'CUDA ms/' + unit:>13s} "
             f"{'GPU span ms/' + unit:>17s}"]
    for name, (n, cpu, cuda) in rows:
        gs = gpu_spans.get(name, [0, float("nan")])[1]
        lines.append(f"{name:78s} {n:6d} {n / n_units:7.2f} {cpu:10.1f} {cpu / n_units:12.2f} {cuda:10.1f} "
                     f"{cuda / n_units:13.2f} {gs / n_units:17.2f}")
    out["ranges"] = "\n".join(lines)
    out["ranges_json"] = {k: {"calls": v[0], "cpu_ms": v[1], "cuda_ms": v[2],
                              "gpu_span_ms": gpu_spans.get(k, [0, None])[1]} for k, v in agg.items()}
    # sync-like events: counts per name, and per innermost enclosing range (same thread, by time containment)
    by_thread = {}
    for r in ranges:
        by_thread.setdefault(r.thread, []).append(r)
    counts, where = {}, {}
    for e in events:
        if not is_sync(e.name):
            continue
        counts[e.name] = counts.get(e.name, 0) + 1
        if not evt_dev_type_cpu(e):
            continue
        s, t = e.time_range.start, e.time_range.end
        inner = None
        for r in by_thread.get(e.thread, ()):
            if r.time_range.start <= s and t <= r.time_range.end and \
                    (inner is None or r.time_range.elapsed_us() < inner.time_range.elapsed_us()):
                inner = r
        key = f"{e.name} <- {inner.name if inner is not None else '(no range / other thread)'}"
        where[key] = where.get(key, 0) + 1
    lines = [f"sync-like events per {unit} ({n_units} {unit}s profiled):"]
    for k, v in sorted(counts.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {k:60s} total {v:6d}  per {unit} {v / n_units:8.2f}")
    lines.append("by innermost enclosing svl:/drv: range (CPU-side events):")
    for k, v in sorted(where.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {k:100s} total {v:6d}  per {unit} {v / n_units:8.2f}")
    out["syncs"] = "\n".join(lines)
    out["sync_counts"] = {k: v / n_units for k, v in counts.items()}
    out["sync_where"] = {k: v / n_units for k, v in where.items()}
    return out


def stats(xs):
    xs = [float(x) for x in xs]
    if not xs:
        return None
    m = sum(xs) / len(xs)
    return {"n": len(xs), "mean": m, "median": float(np.median(xs)), "min": min(xs), "max": max(xs)}


# ------------------------------------------------------------------------------------------ build the trainer
if CUDA:
    cudnn.deterministic = False
    cudnn.benchmark = True
    torch.cuda.reset_peak_memory_stats()

from nnunetv2.run.run_training import get_trainer_from_args  # noqa: E402

install_wrappers()
log(f"wrapped {len(WRAPPED)} functions")

trainer = get_trainer_from_args("802", "3d_fullres", "all", trainer_name, plans, device=device)
trainer.num_epochs = NUM_EPOCHS
trainer.num_iterations_per_epoch = ITERS
trainer.num_val_iterations_per_epoch = VAL_ITERS
trainer.disable_checkpointing = True
trainer.logger.plot_progress_png = lambda *a, **k: None
cm = trainer.configuration_manager
rec.update(patch_size=list(cm.patch_size), batch_size=int(cm.batch_size), trainer_class=type(trainer).__name__,
           nnUNet_n_proc_DA=env("nnUNet_n_proc_DA"), wrapped=WRAPPED)
write()

# instance-level ranges for the network forward, nnU-Net's loss and the train step
_net_fwd = trainer.network.forward if hasattr(trainer, "network") and trainer.network is not None else None

t = time.time()
trainer.on_train_start()           # initialize, data loaders, the plugin's initial label-store pass
rec["on_train_start_s"] = time.time() - t
log(f"on_train_start {rec['on_train_start_s']:.1f} s")

net = trainer.network
net.forward = _wrap_fn(net.forward, "svl:network.forward")
loss_mod = trainer.loss
loss_mod.forward = _wrap_fn(loss_mod.forward, "svl:trainer.loss (nnU-Net DC+CE)")
_train_step = trainer.train_step
trainer.train_step = _wrap_fn(_train_step, "drv:train_step")

gate = None
try:
    from nnunet_svl.teacher.part import TeacherGatePart
    gate = trainer.part(TeacherGatePart) if hasattr(trainer, "part") else None
except Exception:  # noqa: BLE001
    gate = None


def flagged_batch(batch):
    if gate is None:
        return None
    try:
        return bool(gate.touches(batch.get("keys")))
    except Exception:  # noqa: BLE001
        return None


def round_seconds_logged():
    log_ = trainer.logger.local_logger.my_fantastic_logging
    v = log_.get("round_seconds")
    return v[-1] if v else None


# ------------------------------------------------------------------------------------------ pre-epochs (nnU-Net loop)
rec["pre_epochs_done"] = []
for epoch in range(PRE_EPOCHS):
    last = epoch == PRE_EPOCHS - 1
    cp = cProfile.Profile() if (CPROFILE and last and gate is not None) else None
    t0 = time.time()
    trainer.on_epoch_start()
    trainer.on_train_epoch_start()
    outs = []
    if cp is not None:
        cp.enable()
    for _ in range(ITERS):
        outs.append(trainer.train_step(next(trainer.dataloader_train)))
    sync()
    if cp is not None:
        cp.disable()
        s = io.StringIO()
        ps = pstats.Stats(cp, stream=s)
        ps.sort_stats("cumulative").print_stats(45)
        ps.sort_stats("tottime").print_stats(30)
        with open(CPROF, "a") as f:
            f.write(f"\n===== cProfile: epoch {epoch} training steps ({ITERS} iterations incl. data wait) =====\n")
            f.write(s.getvalue())
    t_train = time.time() - t0
    trainer.on_train_epoch_end(outs)
    with torch.no_grad():
        trainer.on_validation_epoch_start()
        vo = [trainer.validation_step(next(trainer.dataloader_val)) for _ in range(VAL_ITERS)]
        trainer.on_validation_epoch_end(vo)
    t1 = time.time()
    if cp is not None:
        cp = cProfile.Profile()
        cp.enable()
    trainer.on_epoch_end()          # the label round (SVL trainers) runs here
    if cp is not None:
        cp.disable()
        s = io.StringIO()
        ps = pstats.Stats(cp, stream=s)
        ps.sort_stats("cumulative").print_stats(60)
        ps.sort_stats("tottime").print_stats(40)
        with open(CPROF, "a") as f:
            f.write(f"\n===== cProfile: epoch {epoch} on_epoch_end (label round) =====\n")
            f.write(s.getvalue())
    t2 = time.time()
    ep = {"epoch": epoch, "train_s": t_train, "on_epoch_end_s": t2 - t1, "epoch_s": t2 - t0,
          "round_seconds": None}
    try:
        ep["round_seconds"] = round_seconds_logged()
    except Exception:  # noqa: BLE001
        pass
    if gate is not None:
        ep["flagged"] = sorted(gate.flagged)
    rec["pre_epochs_done"].append(ep)
    write()
    log(f"pre-epoch {epoch}: train {t_train:.1f} s, on_epoch_end {t2 - t1:.1f} s, round {ep['round_seconds']}, "
        f"flagged {len(ep.get('flagged', []))}")

# local dry runs only: flag some cases by hand (a tiny CPU run flags none) so that the rollout path is exercised
if env("FORCE_FLAGS") and gate is not None and not gate.flagged:
    gate.flagged = set(trainer.training_case_ids()[:int(env("FORCE_FLAGS"))])
    log(f"FORCE_FLAGS: flagged {sorted(gate.flagged)} by hand (dry run)")
    rec["forced_flags"] = True

# ------------------------------------------------------------------------------------------ the measured epoch
trainer.on_epoch_start()
trainer.on_train_epoch_start()
rec["measured_epoch"] = trainer.current_epoch
if hasattr(trainer, "stage"):
    rec["stage"] = trainer.stage()
rec["flagged_cases"] = sorted(gate.flagged) if gate is not None else None
dl = trainer.dataloader_train
for _ in range(N_WARM):
    trainer.train_step(next(dl))
sync()
log("warm-up done")

data_s, step_s, iter_s, flags = [], [], [], []
for _ in range(N_TIMED):
    t0 = time.perf_counter()
    batch = next(dl)
    t1 = time.perf_counter()
    fb = flagged_batch(batch)
    sync()
    t2 = time.perf_counter()
    trainer.train_step(batch)
    sync()
    t3 = time.perf_counter()
    data_s.append(t1 - t0)
    step_s.append(t3 - t2)
    iter_s.append(t3 - t0)
    flags.append(fb)
rec["timed"] = {"data_wait_s": stats(data_s), "train_step_s": stats(step_s), "iteration_s": stats(iter_s),
                "flagged_batches": sum(1 for f in flags if f), "per_step": [
                    {"data_s": d, "step_s": s_, "flagged": f} for d, s_, f in zip(data_s, step_s, flags)]}
if gate is not None:
    fs = [s_ for s_, f in zip(step_s, flags) if f]
    us = [s_ for s_, f in zip(step_s, flags) if not f]
    rec["timed"]["train_step_s_flagged"] = stats(fs)
    rec["timed"]["train_step_s_unflagged"] = stats(us)
if CUDA:
    rec["peak_alloc_MiB"] = torch.cuda.max_memory_allocated() / 2 ** 20
write()
report("timed steps (no profiler)", json.dumps({k: v for k, v in rec["timed"].items() if k != "per_step"}, indent=1)
       + "\nper step: " + ", ".join(f"{s_ * 1e3:.0f}ms{'F' if f else ''}" for s_, f in zip(step_s, flags)))

activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if CUDA else [])
pflags = []
pstep = []
with profile(activities=activities, record_shapes=False, with_stack=False, profile_memory=False) as prof:
    for i in range(N_PROF):
        with record_function("drv:data wait (next(dataloader_train))"):
            batch = next(dl)
        fb = flagged_batch(batch)
        pflags.append(fb)
        sync()
        t2 = time.perf_counter()
        with record_function("drv:STEP flagged" if fb else "drv:STEP unflagged"):
            trainer.train_step(batch)
        sync()
        pstep.append(time.perf_counter() - t2)
rec["profiled_steps"] = {"train_step_s_under_profiler": stats(pstep), "flagged_batches": sum(1 for f in pflags if f)}
log(f"profiled {N_PROF} steps; exporting")
a = analyse(prof, N_PROF, "step")
rec["profiled_steps"].update(ranges=a["ranges_json"], sync_counts_per_step=a["sync_counts"],
                             sync_where_per_step=a["sync_where"])
write()
report(f"TRAINING STEPS: top {ROW_LIMIT} by self CUDA time ({N_PROF} steps, "
       f"{rec['profiled_steps']['flagged_batches']} with a flagged case)", a["table_self_cuda"])
report(f"TRAINING STEPS: top {ROW_LIMIT} by self CPU time", a["table_self_cpu"])
report("TRAINING STEPS: svl:/drv: ranges", a["ranges"])
report("TRAINING STEPS: syncs", a["syncs"])
del prof

# ------------------------------------------------------------------------------------------ one label round
if hasattr(trainer, "round_engine") and trainer.round_engine is not None:
    plan = trainer.round_engine.plan(trainer.current_epoch)
    rec["round_plan"] = None if plan is None else {"kind": plan.kind, "correct": plan.correct}
    log(f"round plan at epoch {trainer.current_epoch}: {rec['round_plan']}")
    write()
    if plan is not None:
        # plan() is called again inside run_label_round (it only reads the store's history and the schedule)
        sync()
        t0 = time.perf_counter()
        with profile(activities=activities, record_shapes=False, with_stack=False) as prof:
            with record_function("drv:run_label_round"):
                summary = trainer.run_label_round()
            sync()
        rs = time.perf_counter() - t0
        rec["round"] = {"wall_s_under_profiler": rs, "summary": summary}
        log(f"round under profiler: {rs:.1f} s; exporting")
        n_cases = len(trainer.training_case_ids())
        a = analyse(prof, 1, "round")
        rec["round"].update(n_cases=n_cases, ranges=a["ranges_json"], sync_counts=a["sync_counts"],
                            sync_where=a["sync_where"])
        write()
        report(f"LABEL ROUND ({summary and summary.get('kind')}, {n_cases} cases, {rs:.1f} s under profiler): "
               f"top {ROW_LIMIT} by self CUDA time", a["table_self_cuda"])
        report("LABEL ROUND: top by self CPU time", a["table_self_cpu"])
        report("LABEL ROUND: svl:/drv: ranges", a["ranges"])
        report("LABEL ROUND: syncs", a["syncs"])
        del prof

rec["status"] = "done"
rec["process_s"] = time.time() - T_PROCESS
if CUDA:
    rec["peak_alloc_MiB"] = torch.cuda.max_memory_allocated() / 2 ** 20
write()
log("done")
sys.stdout.flush()
# nnU-Net's data-loader workers can keep the interpreter (and anything reading its output) alive: end them first
import multiprocessing  # noqa: E402
for child in multiprocessing.active_children():
    try:
        child.terminate()
    except Exception:  # noqa: BLE001
        pass
os._exit(0)
