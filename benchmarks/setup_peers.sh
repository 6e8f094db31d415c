#!/usr/bin/env bash
# A separate environment with pdekit and the peers, for the side-by-side benchmarks.
# neuraloperator is installed without its dependencies (they would pull another torch and wandb).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m venv .venv-bench
. .venv-bench/bin/activate
pip install -q torch==2.13.0
pip install -q -e .
pip install -q --no-deps neuraloperator==2.0.0
pip install -q tensorly tensorly-torch opt-einsum configmypy zencfg ruamel.yaml requests
python -c "import neuralop; print('neuraloperator', neuralop.__version__)"
