#!/bin/bash
# #12 item 4: the decomposition of the papers' design, preset cpu, mt rho 0.5, one seed S (one method per call so that
# an interrupted queue keeps what finished; the last call re-reads every finished run and writes the combined report).
# Run niced beside other work: nice -n 19 bash benchmarks/decomposition/run_s9.sh      (S=1, S=2 for seeds 1, 2;
# M="..." for a subset of the trainers; CLEAN=1 trains the gated methods on the clean labels instead, item 3's rows)
source /work/main/.venv/bin/activate
WS=${WS:-/work/bench_ws/wse}
S=${S:-0}
M=${M:-"nnUNetTrainerVA3C_Paper nnUNetTrainerVA3C_NoCorrection nnUNetTrainerVA3C_DetachedHead
   nnUNetTrainerVA3C_OracleCaseGate nnUNetTrainerVA3C_OracleVoxelGate nnUNetTrainerDALE_Paper
   nnUNetTrainerDALE_FuzzyFromStart nnUNetTrainerDALE_PaperNoAlignment nnUNetTrainerDALE_OmegaAcrossCases"}
set -x
if [ "${CLEAN:-0}" = 1 ]; then
  # the clean-labels rows (#12 item 3) of the methods the earlier queues left out: --protocols without a protocol
  # trains on the clean labels only
  for m in $M; do
    nnunet-svl benchmark --workspace $WS --preset cpu --protocols --methods nnUNetTrainer $m \
        --seeds $S -o $WS/report_clean_${m#nnUNetTrainer}_s$S
  done
  exit
fi
for m in $M; do
  nnunet-svl benchmark --workspace $WS --preset cpu --protocols mt --methods nnUNetTrainer $m --no-clean-methods \
      --seeds $S -o $WS/report_decomp_${m#nnUNetTrainer}_s$S
done
[ "${FINAL:-1}" = 1 ] && nnunet-svl benchmark --workspace $WS --preset cpu --protocols mt --methods nnUNetTrainer $M \
    --no-clean-methods --seeds $S -o $WS/report_decomp_s$S
