#!/usr/bin/env bash
# The devnet a newcomer starts first: a dev node, the two shipped models, two providers
# for each, and an OpenAI-compatible gateway on http://127.0.0.1:8080/v1.
#
# Text generation is served by llama.cpp (decision 0010: ~5x candle's speed on CPU), built
# from source: this script installs what that build needs when the machine lacks it
# (scripts/llama-env.sh), then builds and runs `tessera devnet`. If it cannot, the devnet
# still starts, on candle's slower kernels, and says so. Extra arguments go to `devnet`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/llama-env.sh
if llama_env; then
  exec cargo run --release --locked -p tessera-cli --features llama -- devnet "$@"
fi
echo "devnet.sh: cannot install cmake, libclang or g++ for llama.cpp: serving generation on candle (slower); see scripts/llama-env.sh" >&2
exec cargo run --release --locked -p tessera-cli -- devnet "$@"
