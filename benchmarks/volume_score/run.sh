#!/bin/bash
# The runs the volume-score instrument read (2026-12-01): markov s0 (the default, nothing flagged) and the default's
# five-seed runs (trained as `_ExcludeFlagged`, the same training as the default) on mt, dilate, dilate rho 1 and clean.
#   bash run.sh WS_MARKOV WS_DEFAULT RAW_ROOT PREPROCESSED_ROOT
WM=$1; WD=$2; RAW=$3; PRE=$4
D="$(dirname "$0")"
python "$D/volume_score.py" "$RAW" "$PRE" $WM/results_seed0/Dataset*_markov_r0p5_s0/nnUNetTrainerSVLDRL_bench__*/fold_all \
    $(ls -d $WD/results_seed*/Dataset9*/nnUNetTrainerSVLDRL_ExcludeFlagged_bench*/fold_all) > "$D/volume_score_output.txt"
VOLUME_SCORE_JSON="$D/volume_score_cases.json" python "$D/volume_score.py" "$RAW" "$PRE" \
    $WM/results_seed0/Dataset*_markov_r0p5_s0/nnUNetTrainerSVLDRL_bench__*/fold_all \
    $(ls -d $WD/results_seed*/Dataset990*/nnUNetTrainerSVLDRL_ExcludeFlagged_bench*/fold_all \
            $WD/results_seed*/Dataset90[1-6]*/nnUNetTrainerSVLDRL_ExcludeFlagged_bench*/fold_all) > "$D/volume_score_output_offsets.txt"
