#!/usr/bin/env bash
# A separate environment with pdekit and the peers, for the side-by-side benchmarks.
# neuraloperator and DeepXDE are installed without their dependencies (they would pull another torch and wandb).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m venv .venv-bench
. .venv-bench/bin/activate
pip install -q torch==2.13.0
pip install -q -e .
pip install -q --no-deps neuraloperator==2.0.0
pip install -q tensorly tensorly-torch opt-einsum configmypy zencfg ruamel.yaml requests
pip install -q --no-deps deepxde==1.15.0
pip install -q scikit-learn scikit-optimize matplotlib
pip install -q torch_geometric==2.8.1  # (pure Python: no torch of its own) for benchmarks/message_passing.py
python -c "import neuralop; print('neuraloperator', neuralop.__version__)"
DDE_BACKEND=pytorch python -c "import deepxde; print('deepxde', deepxde.__version__)"
python -c "import torch_geometric; print('torch_geometric', torch_geometric.__version__)"
