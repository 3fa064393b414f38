#!/usr/bin/env bash
# Profile (issue #15 item 1): where nnUNetTrainerSVLDRL's training step and label round spend their time, with a plain
# nnUNetTrainer over the same steps alongside, on nnU-Net's default 3d_fullres plans (same data as run_device.sh).
#
# On the device (run from the repo root, .gpu/dev carried):   bash .gpu/dev/profile_device.sh
# Local dry run on CPU (venv active, tiny budget):             LOCAL=1 bash .gpu/dev/profile_device.sh
#
# Env knobs: OUT (results folder), DEADLINE_S (whole script), PLANS, TRAINERS, and prof_svl.py's (NUM_EPOCHS,
# PRE_EPOCHS, ITERS, VAL_ITERS, N_WARM, N_TIMED, N_PROF, CPROFILE).
set -u
REPO=$(pwd)
DEV=$REPO/.gpu/dev
OUT=${OUT:-/tmp/prof_out}
mkdir -p "$OUT"
LOG=$OUT/run.log
T0=$(date +%s)
DEADLINE_S=${DEADLINE_S:-280}
export PYTHONUNBUFFERED=1
say() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$LOG"; }

if [ "${LOCAL:-0}" = 1 ]; then
  DEVICE=${DEVICE:-cpu}; export nnUNet_n_proc_DA=${nnUNet_n_proc_DA:-2}
  export PRE_EPOCHS=${PRE_EPOCHS:-2} ITERS=${ITERS:-1} VAL_ITERS=${VAL_ITERS:-1} N_WARM=${N_WARM:-1}
  export N_TIMED=${N_TIMED:-2} N_PROF=${N_PROF:-2}
  DUP=${DUP:-0}
  WORK=${WORK:-/tmp/prof_local}
  export PYTHONPATH=$DEV/stubs:$REPO
  PY=python
else
  DEVICE=${DEVICE:-cuda}; export nnUNet_n_proc_DA=${nnUNet_n_proc_DA:-8}
  DUP=${DUP:-1}
  WORK=${WORK:-/tmp/prof_work}
  say "installing wheels"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site $DEV/whl/*.whl \
    >>"$LOG" 2>&1 || { say "wheel install FAILED"; exit 3; }
  export PYTHONPATH=/tmp/site:$DEV/stubs:$REPO
  PY=python3
  { nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv; nproc; } >>"$LOG" 2>&1
fi
export nnUNet_compile=false
export nnUNet_extTrainer=$REPO/nnunet_svl/ext_trainers
rm -rf "$WORK"; mkdir -p "$WORK/raw" "$WORK/results"
export nnUNet_raw=$WORK/raw nnUNet_results=$WORK/results nnUNet_preprocessed=$WORK/pre

cp -r "$DEV/pre" "$WORK/pre"
C=$WORK/pre/Dataset802_GpuTiming_mt_r0p5_s0/nnUNetPlans_3d_fullres
dup() { for ext in .b2nd _seg.b2nd .pkl; do cp "$C/GpuTimingClean_$1$ext" "$C/GpuTimingClean_$2$ext"; done; }
if [ "$DUP" = 1 ]; then
  for pair in 000:008 001:011 003:014 004:017 005:019 007:021 002:015 006:016 009:018 010:020 012:022 013:023; do
    dup "${pair%%:*}" "${pair##*:}"
  done
fi
cat $C/* > /dev/null
say "data: $(ls $C/*.pkl | wc -l) cases; torch: $($PY -c 'import torch;print(torch.__version__, torch.cuda.is_available())' 2>&1)"

PLANS=${PLANS:-nnUNetPlans}
run_one() {  # trainer cap
  local tr=$1 cap=$2
  local left=$(( DEADLINE_S - ($(date +%s) - T0) - 5 ))
  [ "$cap" -gt "$left" ] && cap=$left
  if [ "$cap" -lt 20 ]; then say "SKIP $tr (only ${left}s left)"; return; fi
  say "START $tr on $PLANS (cap ${cap}s)"
  # to a file, not a pipe: nnU-Net's data-loader workers inherit stdout and could keep a pipe open
  timeout -k 5 "$cap" $PY "$DEV/prof_svl.py" "$tr" "$PLANS" "$DEVICE" "$OUT" >"$OUT/py_$tr.log" 2>&1
  local rc=$?
  grep -E "^\[profile|Error|Traceback" "$OUT/py_$tr.log" | tail -n 30
  cat "$OUT/py_$tr.log" >>"$LOG"; rm -f "$OUT/py_$tr.log"
  say "END $tr rc=$rc"
}

# the plain trainer first (short), then SVLDRL with what is left
for tr in ${TRAINERS:-nnUNetTrainer nnUNetTrainerSVLDRL}; do
  case $tr in nnUNetTrainer) cap=${CAP_BASE:-75};; *) cap=${CAP_SVL:-400};; esac
  run_one "$tr" "$cap"
done

# the trainers' own logs (training_log_*.txt) in one tarball
( cd "$WORK/results" && tar czf "$OUT/trainer_logs.tgz" $(find . -name 'training_log_*.txt') ) 2>>"$LOG"

# side by side: wall time per step and the ratio
$PY - "$OUT/results.json" <<'EOF' | tee "$OUT/summary.txt"
import json, sys
d = json.load(open(sys.argv[1]))
b = d.get("nnUNetTrainer", {}).get("timed", {})
print(f"{'trainer':22s} {'status':8s} {'step ms (mean/median)':>22s} {'data wait ms':>13s} {'iter ms':>9s} "
      f"{'ratio step':>10s} {'ratio iter':>10s} {'prof step ms':>12s}  flagged")
for tr, r in d.items():
    t = r.get("timed") or {}
    if not t:
        print(f"{tr:22s} {r.get('status')}: no timed steps"); continue
    st, dw, it = t["train_step_s"], t["data_wait_s"], t["iteration_s"]
    ps = (r.get("profiled_steps") or {}).get("train_step_s_under_profiler") or {}
    rs = st["mean"] / b["train_step_s"]["mean"] if b else float("nan")
    ri = it["mean"] / b["iteration_s"]["mean"] if b else float("nan")
    print(f"{tr:22s} {r.get('status'):8s} {st['mean']*1e3:10.1f}/{st['median']*1e3:<10.1f} {dw['mean']*1e3:13.1f} "
          f"{it['mean']*1e3:9.1f} {rs:10.2f} {ri:10.2f} {ps.get('mean', float('nan'))*1e3:12.1f}  "
          f"{t.get('flagged_batches')}/{st['n']}")
    for k in ("train_step_s_flagged", "train_step_s_unflagged"):
        if t.get(k):
            print(f"    {k}: mean {t[k]['mean']*1e3:.1f} ms over {t[k]['n']} steps")
    sc = (r.get("profiled_steps") or {}).get("sync_counts_per_step")
    if sc:
        print("    syncs per step: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(sc.items())))
    rd = r.get("round")
    if rd:
        print(f"    label round: {rd['wall_s_under_profiler']:.1f} s under profiler, {rd.get('n_cases')} cases, "
              f"summary {rd.get('summary')}")
        print("    round syncs: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(rd.get('sync_counts', {}).items())))
    for e in r.get("pre_epochs_done", []):
        print(f"    pre-epoch {e['epoch']}: train {e['train_s']:.1f} s, on_epoch_end {e['on_epoch_end_s']:.1f} s, "
              f"round {e.get('round_seconds')}")
EOF
say "all done"
