#!/usr/bin/env bash
# The GPU check: proves the CUDA offload on a real card, in one run on a machine without network.
#
#   scripts/gpu_check.sh pack    # here, with PyPI: the slim llama.cpp source and every wheel
#                                # Tavernkeep needs for CPython 3.12, into gpu_pack/ (git-ignored)
#   scripts/gpu_check.sh run     # on the GPU machine, from the checkout with gpu_pack/ beside it:
#                                # builds llama-cpp-python with CUDA for the card it finds, plus
#                                # llama-bench and llama-quantize, installs Tavernkeep into a fresh
#                                # virtualenv, synthesizes a Mistral-Nemo-12B-shaped Q4_K_M model,
#                                # and measures doctor's split, a director round and llama-bench
#                                # under each GPU_MEMORY_LIMIT_MB cap; writes gpu_check.json and .md
#
# Environment: GPU_PACK_DIR (default gpu_pack), GPU_PACK_LIMIT_MB (60: the device carries 64 MiB
# with the checkout), GPU_CHECK_WORK (/tmp/tavernkeep-gpu-check; a second `run` resumes there),
# GPU_CHECK_OUT (the report folder; default $OUT, else $GPU_CHECK_WORK/report), GPU_CHECK_CAPS
# (none,12288,8192,640: MiB, `none` = the card's free memory), GPU_CHECK_SHAPE (nemo12b | tiny),
# GPU_CHECK_BUDGET_S (560: measurements stop starting new caps after this).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/llama_build.env"
pack_dir="${GPU_PACK_DIR:-$root/gpu_pack}"
cache="${TAVERNKEEP_CACHE:-$HOME/.cache/tavernkeep}"
started_at=$SECONDS

log() { echo "gpu_check.sh: $*" >&2; }

usage() {
    cat <<'EOF'
usage: scripts/gpu_check.sh pack | run | help
  pack   download and slim what a GPU machine without network needs, into gpu_pack/
  run    on the GPU machine: build with CUDA, synthesize a 12B model, measure, report
EOF
}

# ---- pack (here) ----

pack() {
    local py="$root/.venv/bin/python" sdist_dir sdist partial key wheel_cache limit_mb total
    [ -x "$py" ] || { log "no .venv; run ./scripts/setup.sh dev first"; exit 1; }
    limit_mb="${GPU_PACK_LIMIT_MB:-60}"
    sdist_dir="$cache/sdist"
    sdist="$sdist_dir/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
    if [ ! -f "$sdist" ]; then
        log "downloading the llama-cpp-python $LLAMA_CPP_PYTHON_VERSION sdist (about 73 MiB, cached)"
        "$py" -m pip download --quiet --no-binary :all: --no-deps -d "$sdist_dir" \
            "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" >&2
    fi
    partial="$pack_dir.partial"
    rm -rf "$partial"
    mkdir -p "$partial/wheels"
    log "slimming the llama.cpp sources for the CUDA build"
    "$py" -m bot.bench.gpu slim "$sdist" "$partial/llama-cpp-python-slim.tar.xz"
    "$py" -m bot.bench.gpu requirements "$root/pyproject.toml" "$sdist" >"$partial/requirements.txt"
    local flags=(--only-binary=:all: --python-version 3.12 --implementation cp --abi cp312)
    local tag
    for tag in manylinux2014 manylinux_2_17 manylinux_2_24 manylinux_2_27 manylinux_2_28 \
        manylinux_2_31 manylinux_2_34; do
        flags+=(--platform "${tag}_x86_64")
    done
    # Keyed by what is asked for: the same requirements reuse the downloads, others start afresh.
    key=$(cat "$partial/requirements.txt" <(printf '%s\n' "${flags[@]}") | sha256sum | cut -c1-16)
    wheel_cache="$cache/gpu-pack/wheels-$key"
    log "downloading the CPython 3.12 manylinux x86-64 wheels into $wheel_cache"
    mapfile -t requirements <"$partial/requirements.txt"
    "$py" -m pip download --quiet "${flags[@]}" -d "$wheel_cache" "${requirements[@]}" >&2
    cp "$wheel_cache"/*.whl "$partial/wheels/"
    total=$("$py" -m bot.bench.gpu manifest "$partial" --version "$LLAMA_CPP_PYTHON_VERSION" \
        --limit-mb "$limit_mb")
    rm -rf "$pack_dir"
    mv "$partial" "$pack_dir"
    log "pack ready: $pack_dir, $total bytes ($((total / 1048576)) MiB of $limit_mb MiB)"
    echo "$total"
}

# ---- run (on the GPU machine) ----

work="${GPU_CHECK_WORK:-/tmp/tavernkeep-gpu-check}"
steps="$work/steps.jsonl"
venv="$work/venv"

# Runs one named step once (a marker makes a second `run` skip it) and records its wall time.
step() {
    local name="$1" begun ok=true
    shift
    if [ -f "$work/done-$name" ]; then
        log "$name: done in an earlier run"
        return 0
    fi
    log "$name ..."
    begun=$SECONDS
    "$@" >>"$work/$name.log" 2>&1 || ok=false
    printf '{"step": "%s", "seconds": %d, "ok": %s}\n' "$name" "$((SECONDS - begun))" "$ok" >>"$steps"
    if [ "$ok" = false ]; then
        log "$name failed after $((SECONDS - begun)) s; the end of $work/$name.log:"
        tail -n 25 "$work/$name.log" >&2
        return 1
    fi
    touch "$work/done-$name"
    log "$name: $((SECONDS - begun)) s"
}

vpy() { PYTHONPATH="$root" "$venv/bin/python" "$@"; }

make_venv() {
    python3 -m venv --clear "$venv"
    mapfile -t requirements <"$pack_dir/requirements.txt"
    "$venv/bin/python" -m pip install --no-index --find-links "$pack_dir/wheels" "${requirements[@]}"
}

build_wheel() {
    local cc args
    cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1)
    args=$(vpy -m bot.bench.gpu cmake-args --cc "$cc" --cpu-args "$LLAMA_CPU_CMAKE_ARGS")
    echo "compute capability $cc: CMAKE_ARGS=$args"
    echo "$args" >"$work/cmake_args.txt"
    # A run cut short left the build folder behind: ninja carries on where it stopped.
    [ -d "$work/src" ] || tar -xJf "$pack_dir/llama-cpp-python-slim.tar.xz" -C "$work"
    rm -rf "$work/wheels"
    mkdir -p "$work/wheels"
    # The build folder is kept, so that llama-bench and llama-quantize reuse its compiled ggml.
    CMAKE_ARGS="$args" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$venv/bin/python" -m pip wheel \
        --no-build-isolation --no-index --no-deps -w "$work/wheels" \
        --config-settings=build-dir="$work/build" "$work/src"
}

build_tools() {
    cmake "$work/build" -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=OFF
    cmake --build "$work/build" --target llama-bench llama-quantize --parallel "$(nproc)"
    mkdir -p "$work/bin"
    local tool
    for tool in llama-bench llama-quantize; do
        find "$work/build" -name "$tool" -type f -perm -u+x -exec ln -sf {} "$work/bin/$tool" \;
        [ -x "$work/bin/$tool" ] || { echo "no $tool in the build"; return 1; }
    done
}

install_tavernkeep() {
    "$venv/bin/python" -m pip install --no-index --find-links "$pack_dir/wheels" \
        --find-links "$work/wheels" "$work"/wheels/llama_cpp_python-*.whl "$root"
    "$venv/bin/python" -c 'import llama_cpp; assert llama_cpp.llama_supports_gpu_offload()'
}

synthesize() {
    vpy -m bot.bench.gpu synth "$work/model-q8_0.gguf" --shape "${GPU_CHECK_SHAPE:-nemo12b}"
}

quantize() {
    "$work/bin/llama-quantize" --allow-requantize "$work/model-q8_0.gguf" \
        "$work/model-q4_k_m.gguf" Q4_K_M "$(nproc)"
    rm -f "$work/model-q8_0.gguf"
}

measure() {
    local budget="${GPU_CHECK_BUDGET_S:-560}"
    (cd "$work" && "$venv/bin/python" -m bot.bench.gpu measure \
        --model "$work/model-q4_k_m.gguf" --llama-bench "$work/bin/llama-bench" \
        --tavernkeep "$venv/bin/tavernkeep" --caps "${GPU_CHECK_CAPS:-none,12288,8192,640}" \
        --steps "$steps" --out "$report" --seconds-left $((budget - (SECONDS - started_at))))
}

# Whatever happened, a report of the steps that ran (the measure step writes the full one).
final_report() {
    [ -f "$report/gpu_check.json" ] && return 0
    [ -x "$venv/bin/python" ] || return 0
    vpy -m bot.bench.gpu report --steps "$steps" --out "$report" || true
}

run() {
    [ -f "$pack_dir/manifest.json" ] || {
        log "no pack at $pack_dir; run scripts/gpu_check.sh pack where PyPI is reachable"
        exit 1
    }
    command -v nvidia-smi >/dev/null || { log "no NVIDIA GPU here (nvidia-smi not found)"; exit 1; }
    local tool
    for tool in python3 nvcc cmake ninja; do
        command -v "$tool" >/dev/null || { log "$tool is not installed"; exit 1; }
    done
    report="${GPU_CHECK_OUT:-${OUT:-$work/report}}"
    mkdir -p "$work" "$report"
    trap final_report EXIT
    step venv make_venv
    # The model is written while nvcc compiles: it needs one core and the disk, the build the rest.
    local synth_pid=""
    if [ ! -f "$work/done-synth" ]; then
        step synth synthesize &
        synth_pid=$!
    fi
    step build_wheel build_wheel
    step build_tools build_tools
    step install install_tavernkeep
    if [ -n "$synth_pid" ]; then wait "$synth_pid"; fi
    [ -f "$work/done-synth" ] || { log "the model synthesis failed"; exit 1; }
    step quantize quantize
    step measure measure
    log "report: $report/gpu_check.md ($((SECONDS - started_at)) s in all)"
}

case "${1:-}" in
    pack) pack ;;
    run) run ;;
    help | -h | --help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
esac
