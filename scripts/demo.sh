#!/usr/bin/env bash
# Sets up .venv if needed, then runs the main job: the CPU self-play demo (about 3.5 minutes on 2 cores).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
# Self-play demo: SmolLM2-135M learns Kuhn Poker (LoRA, choosing among the legal moves, a magnet toward
# equilibrium), then is evaluated against random and
# against the untrained model. Extra arguments go to `sparring train` (e.g. --set trainer.steps=2).
exec .venv/bin/sparring train configs/kuhn_poker.yaml "$@"
