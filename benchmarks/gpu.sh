#!/usr/bin/env bash
# The GPU checks in one run, for a lent GPU machine with PyTorch and neuraloperator importable:
# environment, the full darcy_fno recipe, FNO speed against neuraloperator, mixed-precision smoke
# runs, generation speed; and, for the Navier-Stokes rollouts, where NS generation's time goes
# by batch size (with a kernel profile) and a small ns_fno run that times generation and epochs.
# STEPS picks the groups (default: the first four). Each step has a time limit within an overall
# deadline, and its log and the files it writes are copied to $OUT as soon as it ends.
#
#     OUT=gpu-out SECONDS_TOTAL=480 bash benchmarks/gpu.sh
#     OUT=gpu-out SECONDS_TOTAL=480 STEPS="ns_generation ns_fno_probe" bash benchmarks/gpu.sh
set -u
OUT=${OUT:-gpu-out}
DEVICE=${DEVICE:-cuda}
DARCY_ARGS=${DARCY_ARGS:-}
deadline=$(( $(date +%s) + ${SECONDS_TOTAL:-480} ))
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
log="$OUT/gpu.log"

step() {  # step NAME LIMIT_SECONDS COMMAND...
    local name=$1 limit=$2; shift 2
    local left=$(( deadline - $(date +%s) ))
    (( limit > left )) && limit=$left
    if (( limit < 10 )); then echo "== $name: skipped, no time left" | tee -a "$log"; return; fi
    echo "== $name (limit ${limit} s): $*" | tee -a "$log"
    local t0=$(date +%s)
    timeout "$limit" "$@" 2>&1 | tr '\r' '\n' | grep -v -E '^\s*$|it/s\]$|s/epoch\]$' >>"$log"
    echo "== $name: exit ${PIPESTATUS[0]} after $(( $(date +%s) - t0 )) s" | tee -a "$log"
    cp docs/benchmarks.md "$OUT/" 2>/dev/null
}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
  python3 -c "import torch, neuralop; print('torch', torch.__version__, 'neuralop', neuralop.__version__)"; } >>"$log" 2>&1

wanted() { [[ " ${STEPS:-darcy_fno fno_speed amp generate} " == *" $1 "* ]]; }

if wanted darcy_fno; then
    step darcy_fno 300 python3 benchmarks/train_fno.py accuracy darcy_fno $DARCY_ARGS
    for f in metrics.json metrics.csv report.md; do cp "runs/bench-darcy_fno/$f" "$OUT/darcy_$f" 2>/dev/null; done
fi
wanted fno_speed && step fno_speed 90 python3 benchmarks/train_fno.py speed --device "$DEVICE"
if wanted amp; then
    for amp in none bf16 fp16; do
        step "amp_$amp" 40 python3 -m pdekit run darcy_fno --quick --out "runs/amp-$amp" train.amp=$amp
    done
fi
wanted generate && step generate 200 python3 benchmarks/generate.py --device "$DEVICE"
wanted ns_generation && step ns_generation 150 python3 benchmarks/ns_generation.py --device "$DEVICE" --profile --out "$OUT"
if wanted ns_fno_probe; then  # 104 trajectories (80, 8, 16) at the full size: generation and epoch times
    step ns_fno_probe 240 python3 -m pdekit run ns_fno --out runs/ns_fno-probe data.n_train=80 data.n_test=16 \
        train.epochs=5 eval.timing_rounds=1 eval.solver_ladder=false
    for f in metrics.json metrics.csv report.md; do cp "runs/ns_fno-probe/$f" "$OUT/ns_fno_probe_$f" 2>/dev/null; done
fi
echo "== done" >>"$log"
