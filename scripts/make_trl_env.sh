#!/usr/bin/env bash
# TRL >= 1.10 (DistillationTrainer, its generalised JSD loss) in a virtual environment of its own,
# never vlkd's: TRL 1.10+ requires datasets >= 4.7, while LLaMA-Factory 0.9.5 (vlkd's other
# trainer) pins datasets <= 4.0.0 and trl <= 0.24. vlkd's own distillation loss is checked
# against TRL's in this environment (tests/plugins/train/test_distill_loss.py runs TRL there in a
# subprocess); the torch version is vlkd's, so both compute on the same kernels.
#
#   bash scripts/make_trl_env.sh [VENV]          # default /work/envs/trl
#   export VLKD_TRL_PYTHON=VENV/bin/python       # what the tests use (default: /work/envs/trl)
set -euo pipefail
VENV=${1:-/work/envs/trl}
TRL_VERSION=${TRL_VERSION:-1.16.0}
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q uv
UV=("$VENV/bin/uv" pip install -q --python "$VENV/bin/python")
# torch as vlkd pins it (one cached wheel serves both environments), then TRL and its datasets
"${UV[@]}" "torch==2.11.0" "transformers==5.6.0" "trl==$TRL_VERSION" "datasets>=4.7"
"$VENV/bin/python" -c 'import trl, datasets, torch; from trl.trainer.distillation_trainer import DistillationTrainer; print("trl", trl.__version__, "datasets", datasets.__version__, "torch", torch.__version__)'
echo "export VLKD_TRL_PYTHON=$VENV/bin/python"
