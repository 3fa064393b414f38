# Dedicated timing run on an idle machine: nnUNetTrainer, DALE and SVLDRL (bench budget) on the same mt labels,
# one after the other; s/epoch from nnU-Net's epoch timestamps, peak RSS from nnunet_svl.tools.measure.
#   bash run_timing.sh [OUT]     OUT: results folder (default /work/timing)
#   PROFILE=0 bash run_timing.sh /work/timing2    without py-spy on the SVLDRL run (the afternoon re-run with the
#                                                 batch-keys fix; the morning's run profiled it)
#   PROFILE=0 CODE=/work/benchcode4 TRAINERS="nnUNetTrainerBaseline_bench nnUNetTrainerDALE_bench \
#       nnUNetTrainerSVLDRL_bench nnUNetTrainerSVLDRL_SampleFlagged_bench" bash run_timing.sh /work/timing3
#                                                 (2026-11-30 late night, f51f70e: flagged cases excluded by default)
#   PROFILE=0 WS=/work/bench_ws/wse bash run_timing.sh /work/timing4     (2026-12-02, eleventh session: the default
#                                                 with the edge repair, in the cpu preset's workspace)
#   PROFILE=0 WS=/work/bench_ws/wse PLANS=nnUNetPlans TRAINERS="nnUNetTrainerBaseline_demo nnUNetTrainerDALE_demo \
#       nnUNetTrainerSVLDRL_demo" bash run_timing.sh /work/timing5     (2026-12-03, fifteenth
#                                                 session: nnU-Net's default network for the 40³ phantoms, issue #15;
#                                                 timing_default_network_cpu.json, epoch_ratio.py)
OUT=${1:-/work/timing}
PLANS=${PLANS:-nnUNetPlans_narrow}
PROFILE=${PROFILE:-1}
CODE=${CODE:-/work/main}
TRAINERS=${TRAINERS:-"nnUNetTrainerBaseline_bench nnUNetTrainerDALE_bench nnUNetTrainerSVLDRL_bench"}
source /work/main/.venv/bin/activate
export PYTHONPATH=$CODE
WS=${WS:-/work/bench_ws/ws}                     # a benchmark workspace that holds DS planned and preprocessed
DS=${DS:-Dataset901_SVLDemo_mt_r0p5_s0}
export nnUNet_raw=$WS/raw nnUNet_preprocessed=$WS/preprocessed nnUNet_results=$OUT/results
export nnUNet_extTrainer=$CODE/nnunet_svl/ext_trainers OMP_WAIT_POLICY=PASSIVE nnUNet_n_proc_DA=0 nnUNet_def_n_proc=1 nnUNet_compile=false
export NNUNET_SVL_TRAIN_SEED=0
mkdir -p $OUT && cd $OUT
for tr in $TRAINERS; do
  if [ $tr = nnUNetTrainerSVLDRL_bench ] && [ "$PROFILE" = 1 ]; then
    py-spy record --subprocesses --rate 20 --format raw -o $OUT/profile_svldrl.txt -- python -m nnunet_svl.tools.measure measure_$tr.json nnUNetv2_train ${DS:7:3} 3d_fullres all -tr $tr -p $PLANS -device cpu > train_$tr.log 2>&1
  else
    python -m nnunet_svl.tools.measure measure_$tr.json nnUNetv2_train ${DS:7:3} 3d_fullres all -tr $tr -p $PLANS -device cpu > train_$tr.log 2>&1
  fi
  echo "$tr done $(date)"
done
python $CODE/benchmarks/overhead/epoch_times.py $OUT $PLANS $TRAINERS     # -> $OUT/timing.json
