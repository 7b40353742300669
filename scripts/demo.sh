#!/usr/bin/env bash
# Sets up .venv if needed, then runs the main job.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec .venv/bin/sparring arena kuhn_poker cfr random --matches 2000 "$@"
