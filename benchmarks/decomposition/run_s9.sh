#!/bin/bash
# #12 item 4: the decomposition of the papers' design, preset cpu, mt rho 0.5, seed 0 (one method per call so that an
# interrupted queue keeps what finished; the last call re-reads every finished run and writes the combined report).
# Run niced beside other work: nice -n 19 bash benchmarks/decomposition/run_s9.sh
source /work/main/.venv/bin/activate
WS=${WS:-/work/bench_ws/wse}
S=${S:-0}
M="nnUNetTrainerVA3C_Paper nnUNetTrainerVA3C_NoCorrection nnUNetTrainerVA3C_DetachedHead nnUNetTrainerVA3C_OracleCaseGate
   nnUNetTrainerVA3C_OracleVoxelGate nnUNetTrainerDALE_Paper nnUNetTrainerDALE_FuzzyFromStart
   nnUNetTrainerDALE_OmegaAcrossCases"
set -x
for m in $M; do
  nnunet-svl benchmark --workspace $WS --preset cpu --protocols mt --methods nnUNetTrainer $m --no-clean-methods \
      --seeds $S -o $WS/report_decomp_${m#nnUNetTrainer}_s$S
done
nnunet-svl benchmark --workspace $WS --preset cpu --protocols mt --methods nnUNetTrainer $M --no-clean-methods \
    --seeds $S -o $WS/report_decomp_s$S
