#!/usr/bin/env bash
# GPU timing for issue #15: nnUNetTrainer vs nnUNetTrainerDALE vs nnUNetTrainerSVLDRL, side by side in one run,
# on nnU-Net's default 3d_fullres plans, then on the project's nnUNetPlans_narrow (same preprocessed data).
#
# On the device (run from the repo root, .gpu/dev carried):   bash .gpu/dev/run_device.sh
# Local dry run on CPU (venv active, tiny budget):             LOCAL=1 bash .gpu/dev/run_device.sh
#
# Env knobs: OUT (results folder), DEADLINE_S (whole script), EPOCHS/ITERS/VAL_ITERS (default plans),
# N_EPOCHS/N_ITERS (narrow plans), DEVICE, TRAINERS.
set -u
REPO=$(pwd)
DEV=$REPO/.gpu/dev
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
LOG=$OUT/run.log
T0=$(date +%s)
DEADLINE_S=${DEADLINE_S:-435}
export PYTHONUNBUFFERED=1
say() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$LOG"; }

if [ "${LOCAL:-0}" = 1 ]; then
  DEVICE=${DEVICE:-cpu}; export nnUNet_n_proc_DA=${nnUNet_n_proc_DA:-2}
  EPOCHS=${EPOCHS:-1}; ITERS=${ITERS:-2}; VAL_ITERS=${VAL_ITERS:-1}; N_EPOCHS=${N_EPOCHS:-1}; N_ITERS=${N_ITERS:-2}
  WORK=${WORK:-/tmp/gpu_timing_local}
  export PYTHONPATH=$DEV/stubs:$REPO
  PY=python
else
  DEVICE=${DEVICE:-cuda}; export nnUNet_n_proc_DA=${nnUNet_n_proc_DA:-8}
  EPOCHS=${EPOCHS:-8}; ITERS=${ITERS:-50}; VAL_ITERS=${VAL_ITERS:-5}; N_EPOCHS=${N_EPOCHS:-5}; N_ITERS=${N_ITERS:-50}
  WORK=${WORK:-/tmp/gpu_timing}
  say "installing wheels"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site $DEV/whl/*.whl \
    >>"$LOG" 2>&1 || { say "wheel install FAILED"; exit 3; }
  # the SimpleITK stub (timing only: training from preprocessed data never calls it) after the real packages
  export PYTHONPATH=/tmp/site:$DEV/stubs:$REPO
  PY=python3
  { nvidia-smi; nproc; free -g; } >>"$LOG" 2>&1
fi
export nnUNet_compile=false                  # the plugin's trainers never compile; same for the stock trainer here
export nnUNet_extTrainer=$REPO/nnunet_svl/ext_trainers
rm -rf "$WORK"; mkdir -p "$WORK/raw" "$WORK/results"
export nnUNet_raw=$WORK/raw nnUNet_results=$WORK/results nnUNet_preprocessed=$WORK/pre

# data: 12 distinct preprocessed cases travelled (64 MiB limit); the other 12 of the 24 training cases are copies,
# noisy from noisy and clean from clean, so that 12 of 24 are mt-noisy as in the corrupted dataset
cp -r "$DEV/pre" "$WORK/pre"
C=$WORK/pre/Dataset802_GpuTiming_mt_r0p5_s0/nnUNetPlans_3d_fullres
dup() { for ext in .b2nd _seg.b2nd .pkl; do cp "$C/GpuTimingClean_$1$ext" "$C/GpuTimingClean_$2$ext"; done; }
for pair in 000:008 001:011 003:014 004:017 005:019 007:021 002:015 006:016 009:018 010:020 012:022 013:023; do
  dup "${pair%%:*}" "${pair##*:}"
done
cat $C/* > /dev/null   # warm the page cache for every run alike
say "data: $(ls $C/*.pkl | wc -l) cases in $C"

$PY - <<'EOF' >>"$LOG" 2>&1
import torch, sys
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
      "available", torch.cuda.is_available())
import nnunetv2, blosc2, cc3d, batchgeneratorsv2, dynamic_network_architectures, SimpleITK
print("nnunetv2 ok; SimpleITK", SimpleITK.__version__, SimpleITK.__file__)
EOF
tail -2 "$LOG"

RESULTS=$OUT/results.json
run_one() {  # plans trainer epochs iters val_iters max_seconds
  local plans=$1 tr=$2 ep=$3 it=$4 vit=$5 cap=$6
  local left=$(( DEADLINE_S - ($(date +%s) - T0) - 8 ))
  [ "$cap" -gt "$left" ] && cap=$left
  if [ "$cap" -lt 25 ]; then say "SKIP $plans $tr (only ${left}s left)"; return; fi
  say "START $plans $tr ${ep}x${it} (cap ${cap}s)"
  timeout -k 5 "$cap" $PY "$DEV/driver.py" "$tr" "$plans" "$ep" "$it" "$vit" "$DEVICE" "$RESULTS" "${plans}__${tr}" \
    >>"$LOG" 2>&1
  say "END $plans $tr rc=$?"
}

TRAINERS=${TRAINERS:-"nnUNetTrainer nnUNetTrainerSVLDRL nnUNetTrainerDALE"}
for plans in ${PLANS:-nnUNetPlans nnUNetPlans_narrow}; do
  for tr in $TRAINERS; do
    if [ "$plans" = nnUNetPlans ]; then
      ep=$EPOCHS; it=$ITERS
      case $tr in nnUNetTrainer) cap=${CAP_BASE:-80};; nnUNetTrainerDALE) cap=${CAP_DALE:-100};; *) cap=${CAP_SVL:-130};; esac
    else
      ep=$N_EPOCHS; it=$N_ITERS
      case $tr in nnUNetTrainer) cap=${NCAP_BASE:-40};; nnUNetTrainerDALE) cap=${NCAP_DALE:-45};; *) cap=${NCAP_SVL:-55};; esac
    fi
    run_one "$plans" "$tr" "$ep" "$it" "$VAL_ITERS" "$cap"
  done
done

# the trainers' own training logs (one tarball: $OUT takes at most 8 files)
( cd "$WORK/results" && tar czf "$OUT/trainer_logs.tgz" $(find . -name 'training_log_*.txt') ) 2>>"$LOG"
$PY - "$RESULTS" <<'EOF' | tee -a "$LOG"
import json, sys
d = json.load(open(sys.argv[1]))
for plans in ("nnUNetPlans", "nnUNetPlans_narrow"):
    base = d.get(f"{plans}__nnUNetTrainer", {})
    for tr in ("nnUNetTrainer", "nnUNetTrainerDALE", "nnUNetTrainerSVLDRL"):
        r = d.get(f"{plans}__{tr}")
        if not r or not r.get("epochs"):
            continue
        def ratio(k):
            return (r.get(k) or float("nan")) / base[k] if base.get(k) else float("nan")
        print(f"{plans:20s} {tr:22s} {r['status']:8s} ep {r['epochs_done']}/{r['epochs_planned']}x"
              f"{r['iterations_per_epoch']} patch {r['patch_size']} bs {r['batch_size']}: "
              f"mean {r['mean_epoch_s']:.2f} s ({ratio('mean_epoch_s'):.2f}x), excl1 "
              f"{(r['mean_epoch_s_excl_first'] or float('nan')):.2f} s ({ratio('mean_epoch_s_excl_first'):.2f}x), "
              f"-rounds {r['mean_epoch_s_minus_rounds']:.2f} s, rounds {r['label_rounds']} "
              f"({r['round_seconds_total']:.1f} s), peak {r.get('peak_alloc_MiB') or float('nan'):.0f} MiB "
              f"({ratio('peak_alloc_MiB'):.2f}x)")
EOF
say "all done"
