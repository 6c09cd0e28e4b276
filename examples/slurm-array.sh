#!/usr/bin/env bash
# A Slurm job array over one manifest: each array task runs its shard of the jobs (every N-th job
# from its own), so the tasks together run each job once. Inputs, outputs and the weights must be
# on storage every node sees; fetch the weights there once first:
#   NST_WEIGHTS=/shared/vgg19_weights.h5 nst weights fetch
#   sbatch --array=0-3 examples/slurm-array.sh /shared/jobs.csv /shared/out
# A task that is requeued skips the outputs its shard already wrote (--skip-existing).
# NST (nst), SIZE and ITERATIONS as in the other examples; THREADS defaults to the CPUs Slurm gave.
#SBATCH --job-name=nst
#SBATCH --array=0-3
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --output=nst-%A_%a.log
set -euo pipefail
manifest=${1:?usage: sbatch --array=0-3 slurm-array.sh jobs.csv out-dir}
out=${2:-out}
export NST_WEIGHTS=${NST_WEIGHTS:-/shared/vgg19_weights.h5}
# --shard auto reads SLURM_ARRAY_TASK_ID (from SLURM_ARRAY_TASK_MIN) and SLURM_ARRAY_TASK_COUNT.
"${NST:-nst}" batch --manifest "$manifest" --out-dir "$out" --shard auto --skip-existing \
  --threads "${THREADS:-${SLURM_CPUS_PER_TASK:-2}}" --size "${SIZE:-512}" ${ITERATIONS:+--iterations "$ITERATIONS"}
