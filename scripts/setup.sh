#!/usr/bin/env bash
# Sets up KnowLM on a fresh Debian machine: system libraries (when missing), a release build
# of `knowlm`, and the default models in $KNOWLM_HOME/models (default ~/.cache/knowlm/models).
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/build-flags.sh

packages=(libsqlite3-dev libopenblas-dev libsentencepiece-dev libcurl4-openssl-dev pkg-config python3-pip)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3-pip only matters when pip itself is missing (pyenv and venv pythons bring their own).
if python3 -m pip --version >/dev/null 2>&1; then
  missing=("${missing[@]/python3-pip}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "setup: building knowlm (release)" >&2
swift build "${KNOWLM_BUILD_FLAGS[@]}" --product knowlm

"$KNOWLM_BIN" model pull defaults
scripts/build-default-kb.sh
