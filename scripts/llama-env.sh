# Sourced by scripts/devnet.sh and .ci/run: makes what building llama.cpp from source
# needs (cmake, a C++ compiler, libclang for bindgen) available, from PyPI and Debian
# through their ordinary clients when the machine lacks them, and exports the variables
# its build reads. Returns non-zero (without exiting the caller) when it cannot.
llama_env() {
  have() { command -v "$1" >/dev/null 2>&1; }
  if ! have cmake; then
    python3 -m pip install -q cmake || return 1
  fi
  if ! python3 -c "import clang.native" >/dev/null 2>&1; then
    python3 -m pip install -q libclang || return 1
  fi
  if ! have g++; then
    if have apt-get; then
      { apt-get update -qq && apt-get install -y -qq g++ >/dev/null; } || return 1
    else
      return 1
    fi
  fi
  LIBCLANG_PATH="$(python3 -c 'import os, clang.native; print(os.path.dirname(clang.native.__file__))')" || return 1
  export LIBCLANG_PATH
  # bindgen's libclang does not know gcc's own headers (stddef.h and friends).
  BINDGEN_EXTRA_CLANG_ARGS="-I$(gcc -print-file-name=include)"
  export BINDGEN_EXTRA_CLANG_ARGS
  # llama-cpp-sys-2 leaves relative symlinks to its libraries in the target directory
  # that dangle, and fails on them when it builds again: drop them first.
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    find "$CARGO_TARGET_DIR" -maxdepth 3 -xtype l -name 'lib*.so*' -delete 2>/dev/null || true
  fi
  find target -maxdepth 3 -xtype l -name 'lib*.so*' -delete 2>/dev/null || true
  return 0
}
