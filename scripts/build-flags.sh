# Shared by setup.sh and test.sh: one release configuration with testing enabled, so the
# tests (which run the real model) reuse the build that set-up made instead of rebuilding.
KNOWLM_BUILD_FLAGS=(-c release -Xswiftc -enable-testing)
KNOWLM_BIN=".build/release/knowlm"
