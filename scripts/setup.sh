#!/usr/bin/env bash
# Creates .venv and installs Tavernkeep with the given extras (default: demo).
# llama-cpp-python compiles from source; the wheel is kept in a cache keyed by its
# version and CMAKE_ARGS, because pip's own wheel cache ignores CMAKE_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-demo}"
# The version and the portable CPU flags, shared with scripts/llama_server.sh.
source scripts/llama_build.env
llama_version="$LLAMA_CPP_PYTHON_VERSION"
default_args="-DLLAVA_BUILD=OFF $LLAMA_CPU_CMAKE_ARGS"
export CMAKE_ARGS="${CMAKE_ARGS:-$default_args}"
python="${PYTHON:-python3}"

[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip

key=$(printf '%s %s' "$llama_version" "$CMAKE_ARGS" | sha256sum | cut -c1-16)
wheel_dir="${TAVERNKEEP_WHEEL_CACHE:-$HOME/.cache/tavernkeep/wheels}/$key"
if ! ls "$wheel_dir"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "Building llama-cpp-python $llama_version (CMAKE_ARGS=$CMAKE_ARGS); this takes a while once." >&2
    mkdir -p "$wheel_dir"
    .venv/bin/python -m pip wheel --no-deps --no-cache-dir --no-binary llama-cpp-python \
        -w "$wheel_dir" "llama-cpp-python==$llama_version"
fi
.venv/bin/python -m pip install --quiet --force-reinstall --no-deps "$wheel_dir"/llama_cpp_python-*.whl
.venv/bin/python -m pip install --quiet -e ".[$extras]"
