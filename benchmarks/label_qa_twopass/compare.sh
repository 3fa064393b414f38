#!/bin/bash
# The two-pass trainer (5 folds of nnUNetTrainer with --npz -> `nnunet-svl label-qa` -> nnUNetTrainerSVLDRL_LabelQA)
# against nnUNetTrainer and against the one-pass default (trained as `_ExcludeFlagged` at fc05e4f/f27c91a, the same
# training as the default), paired per seed and test case; then label-qa's own figures per dataset.
#   bash compare.sh WS_TWOPASS WS_DEFAULT "PROTO:SEED ..."   e.g. bash compare.sh /work/bench_ws/ws_qa /work/bench_ws/ws2 "mt:0 mt:1 mt:2"
WQ=$1; WD=$2; RUNS=${3:-"mt:0 mt:1 mt:2"}
NC="$(dirname "$0")/../oracles_gated/null_compare.py"
for proto in $(for r in $RUNS; do echo ${r%%:*}; done | sort -u); do
  a=(); b=(); c=()
  for r in $RUNS; do
    [ "${r%%:*}" = "$proto" ] || continue
    s=${r##*:}
    ds=$(basename $(ls -d $WD/benchmark_predictions/seed$s/Dataset*_SVLDemo_${proto}_r0p5_s$s))
    q=$WQ/benchmark_predictions/seed$s/$ds/nnUNetTrainerSVLDRL_LabelQA_bench/svl_evaluation.json
    d=$WD/benchmark_predictions/seed$s/$ds/nnUNetTrainerSVLDRL_ExcludeFlagged_bench/svl_evaluation.json
    base=$WD/benchmark_predictions/seed$s/$ds/nnUNetTrainerBaseline_bench/svl_evaluation.json
    [ -f "$q" ] || continue
    a+=("$s:$q:$base"); b+=("$s:$q:$d"); c+=("$s:$d:$base")
  done
  python "$NC" "$proto: two-pass (label-qa prior) - nnUNetTrainer" "${a[@]}"
  python "$NC" "$proto: two-pass (label-qa prior) - one-pass default" "${b[@]}"
  python "$NC" "$proto: one-pass default - nnUNetTrainer (same seeds)" "${c[@]}"
done
echo "label-qa per dataset (5 folds of nnUNetTrainerBaseline_bench, --npz):"
for f in $WQ/results_seed*/Dataset*/nnUNetTrainerBaseline_bench__*/label_qa/summary.json; do
  python - "$f" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
print(f"  {d['dataset']} ({sys.argv[1].split('/')[-5]}): T {d['temperature']:.2f}, flagged {len(d['flagged'])} of {d['cases']}"
      f" (noisy {len(d.get('noisy_cases', []))}), case AUROC {fmt(d.get('case_auroc'))}, voxel AUROC {fmt(d.get('voxel_auroc'))},"
      f" P@k {fmt(d.get('precision_at_k'))}, flag P {fmt(d.get('flag_precision'))} R {fmt(d.get('flag_recall'))}")
PY
done
