#!/usr/bin/env bash
# Sets up (system libraries, build, default models) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The MCP tests talk to peers written with the official Python SDK (`mcp` on PyPI), kept in a
# virtual environment of their own (never a dependency of the product).
if ! .venv-test/bin/python -c "import mcp" 2>/dev/null; then
  echo "test: installing the mcp Python package into .venv-test" >&2
  python3 -m venv .venv-test
  .venv-test/bin/pip install -q "mcp>=1.20" >&2
  # Byte-compile now, so the peers start quickly while the model tests load the machine.
  .venv-test/bin/python -m compileall -q .venv-test/lib >/dev/null 2>&1 || true
fi
export KNOWLM_TEST_PYTHON="$PWD/.venv-test/bin/python"
# The web page is tested in Debian's headless Chromium.
if ! command -v chromium >/dev/null 2>&1; then
  echo "test: installing chromium (the web page test)" >&2
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
source scripts/build-flags.sh
if [ $# -gt 0 ]; then
  exec swift test "${KNOWLM_BUILD_FLAGS[@]}" "$@"
fi
# The C kernels on every instruction-set level this CPU has (scalar, AVX2, AVX-512), not only
# the one the runtime picks: goldens, SIMD against scalar, and the GEMMs that promise results
# bit-identical to their single-row dot products (Tests/kernels-harness/README).
harness_dir="$(mktemp -d)"
"${CC:-clang}" -O3 -I Sources/CKernels/include Sources/CKernels/*.c Tests/kernels-harness/*.c -lm -lpthread -ldl \
  -o "$harness_dir/kernels_harness"
if ! "$harness_dir/kernels_harness" > "$harness_dir/log" 2>&1; then
  grep -E "FAIL|checks" "$harness_dir/log" >&2; exit 1
fi
echo "kernels harness: $(tail -n 1 "$harness_dir/log")"
rm -rf "$harness_dir"
# The server tests run live HTTP servers and a browser; they run on their own, after the rest,
# so the CPU-heavy model tests do not starve their request handlers.
swift test "${KNOWLM_BUILD_FLAGS[@]}" --skip KnowLMServerTests
swift test "${KNOWLM_BUILD_FLAGS[@]}" --skip-build --filter KnowLMServerTests
