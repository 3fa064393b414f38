#!/bin/bash
# #16 item 4 (sixteenth session): the two-pass trainer against nnUNetTrainer and the one-pass default on every noise
# protocol x ratio, 3 seeds, from the runs of (per protocol P, ratio R, seed S; the benchmark workspace WS):
#   nnunet-svl benchmark --workspace WS --preset cpu --protocols P --ratios R --seeds S --no-clean-methods \
#       --methods nnUNetTrainer nnUNetTrainerSVLDRL
#   S=S P=P R=R M="nnUNetTrainer nnUNetTrainerSVLDRL nnUNetTrainerSVLDRL_LabelQA" bash benchmarks/label_qa_twopass/run_s11.sh
# (mt rho 0.5: withdraw_mt_6runs_output.txt, fifteenth session). Writes grid_*_output.txt and prior_vs_gate_output.txt
# beside this script.   WS=/work/bench_ws/wse bash benchmarks/label_qa_twopass/grid_sixteenth.sh
set -e
WS=${WS:-/work/bench_ws/wse}
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"
export TRAJS=0
python trajectories.py $WS Dataset907_SVLDemo_dilate_r0p5_s0:0 Dataset908_SVLDemo_dilate_r0p5_s1:1 \
    Dataset910_SVLDemo_dilate_r0p5_s2:2 > grid_dilate_r0p5_output.txt
python trajectories.py $WS Dataset904_SVLDemo_mt_r1_s0:0 Dataset909_SVLDemo_mt_r1_s1:1 \
    Dataset911_SVLDemo_mt_r1_s2:2 > grid_mt_r1_output.txt
python trajectories.py $WS Dataset905_SVLDemo_dilate_r1_s0:0 Dataset913_SVLDemo_dilate_r1_s1:1 \
    Dataset915_SVLDemo_dilate_r1_s2:2 > grid_dilate_r1_output.txt
python trajectories.py $WS Dataset906_SVLDemo_markov_r1_s0:0 Dataset912_SVLDemo_markov_r1_s1:1 \
    Dataset916_SVLDemo_markov_r1_s2:2 > grid_markov_r1_output.txt
# markov rho 0.5: seeds 0 and 1 are the twelfth session's committed report (its workspace is gone), seed 2 this one's
python ../decomposition/contrasts.py --group markov_r0.5 report_markov_s01/benchmark.json \
    report_sixteenth/markov_r0p5_s2/benchmark.json > grid_markov_r0p5_output.txt
python prior_vs_gate.py $WS Dataset901_SVLDemo_mt_r0p5_s0:0 Dataset901_SVLDemo_mt_r0p5_s0:0:1 \
    Dataset903_SVLDemo_mt_r0p5_s1:1 Dataset903_SVLDemo_mt_r0p5_s1:1:1 Dataset902_SVLDemo_mt_r0p5_s2:2 \
    Dataset902_SVLDemo_mt_r0p5_s2:2:1 Dataset904_SVLDemo_mt_r1_s0:0 Dataset904_SVLDemo_mt_r1_s0:0:1 \
    Dataset909_SVLDemo_mt_r1_s1:1 Dataset911_SVLDemo_mt_r1_s2:2 Dataset907_SVLDemo_dilate_r0p5_s0:0 \
    Dataset908_SVLDemo_dilate_r0p5_s1:1 Dataset910_SVLDemo_dilate_r0p5_s2:2 Dataset905_SVLDemo_dilate_r1_s0:0 \
    Dataset913_SVLDemo_dilate_r1_s1:1 Dataset915_SVLDemo_dilate_r1_s2:2 Dataset906_SVLDemo_markov_r1_s0:0 \
    Dataset912_SVLDemo_markov_r1_s1:1 Dataset916_SVLDemo_markov_r1_s2:2 \
    Dataset914_SVLDemo_markov_r0p5_s2:2 > prior_vs_gate_output.txt
