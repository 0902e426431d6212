#!/usr/bin/env bash
# Sets up (system libraries, build, default models) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/build-flags.sh
swift test "${KNOWLM_BUILD_FLAGS[@]}" "$@"
