#!/usr/bin/env bash
# llama.cpp's llama-server for tests: built from the llama.cpp sources the pinned
# llama-cpp-python sdist vendors (the same llama.cpp as the in-process engine), cached,
# and started on the demo model on 127.0.0.1.
#
#   scripts/llama_server.sh build                     # prints the cached binary's path
#   dir=$(mktemp -d); eval "$(scripts/llama_server.sh start "$dir")"
#                        # exports TAVERNKEEP_TEST_LLAMA_SERVER_URL and _DIR
#   scripts/llama_server.sh stop "$TAVERNKEEP_TEST_LLAMA_SERVER_DIR"
#   scripts/llama_server.sh path                      # where the cached binary is (or goes)
#   scripts/llama_server.sh available                 # can `start` run here without a build?
#
# `start DIR [ARGS...]` passes ARGS to llama-server after its defaults, so they win
# (e.g. `-np 2`). The first build takes 10-15 minutes on two cores; later ones are instant.
set -euo pipefail
# No cd: DIR arguments are relative to the caller's directory.
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/llama_build.env"

# Only llama-server, statically linked so the cached binary needs no build tree. No web UI:
# its assets come from npm or a download, neither of which this build may rely on, and
# no TLS: the server listens on loopback and downloads no models.
server_cmake_args="$LLAMA_CPU_CMAKE_ARGS -DBUILD_SHARED_LIBS=OFF -DCMAKE_BUILD_TYPE=Release \
-DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
# Keyed like the wheel in setup.sh: a change of version or flags never reuses a binary.
key=$(printf '%s %s' "$LLAMA_CPP_PYTHON_VERSION" "$server_cmake_args" | sha256sum | cut -c1-16)
cache_dir="${TAVERNKEEP_LLAMA_SERVER_CACHE:-$HOME/.cache/tavernkeep/llama-server}/$key"
binary="$cache_dir/llama-server"
start_timeout="${LLAMA_SERVER_START_TIMEOUT:-120}"

log() { echo "llama_server.sh: $*" >&2; }

python_bin() {
    if [ -x "$root/.venv/bin/python" ]; then echo "$root/.venv/bin/python"; else echo python3; fi
}

build() {
    if [ -x "$binary" ]; then
        echo "$binary"
        return 0
    fi
    mkdir -p "$cache_dir"
    # Two builds at once (a developer and a test run) would fight over two cores; the
    # second waits and then finds the binary.
    exec 9>"$cache_dir/.lock"
    flock 9
    if [ ! -x "$binary" ]; then
        build_locked
    fi
    echo "$binary"
}

build_locked() {
    local work src started
    work=$(mktemp -d "${TMPDIR:-/tmp}/tavernkeep-llama-server.XXXXXX")
    # shellcheck disable=SC2064  # expand $work now: it is local to this function
    trap "rm -rf '$work'" EXIT
    started=$SECONDS
    log "building llama-server from llama-cpp-python $LLAMA_CPP_PYTHON_VERSION ($server_cmake_args)"
    # pip serves the sdist from its HTTP cache when setup.sh already fetched it.
    "$(python_bin)" -m pip download --quiet --no-binary :all: --no-deps \
        -d "$work" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" >&2
    tar -xzf "$work"/llama_cpp_python-*.tar.gz -C "$work"
    src=$(echo "$work"/llama_cpp_python-*/vendor/llama.cpp)
    [ -f "$src/tools/server/CMakeLists.txt" ] || { log "no llama.cpp server sources in the sdist"; exit 1; }
    # shellcheck disable=SC2086  # the flags are a word list on purpose
    cmake -S "$src" -B "$work/build" $server_cmake_args >"$work/cmake.log" 2>&1 \
        || { tail -n 40 "$work/cmake.log" >&2; exit 1; }
    cmake --build "$work/build" --target llama-server --parallel 2 >&2
    install -m 755 "$work/build/bin/llama-server" "$binary.tmp"
    mv "$binary.tmp" "$binary"
    log "built $binary in $((SECONDS - started)) s"
}

demo_model() {
    local model
    [ -x "$root/.venv/bin/python" ] || { log "no .venv; run ./scripts/setup.sh dev first"; exit 1; }
    model=$("$root/.venv/bin/python" -c 'from bot.settings import bundled_demo_model; print(bundled_demo_model() or "")')
    [ -n "$model" ] || { log "the demo model is not installed; run ./scripts/setup.sh dev first"; exit 1; }
    echo "$model"
}

# The cached binary's path when `start` would not build and the demo model is installed; else
# one line why, and status 1 (the test suite asks this before it starts a server).
available() {
    [ -x "$binary" ] || {
        log "llama-server is not built; run scripts/llama_server.sh build (10-15 minutes, cached)"
        exit 1
    }
    demo_model >/dev/null
    echo "$binary"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The pid in DIR/server.pid, if that process is still a llama-server (pids get reused).
running_pid() {
    local dir="$1" pid
    [ -f "$dir/server.pid" ] || return 1
    pid=$(cat "$dir/server.pid")
    [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == */llama-server* ]] || return 1
    echo "$pid"
}

start() {
    local dir="${1:?usage: llama_server.sh start DIR [llama-server args]}" bin model port pid
    shift
    bin=$(build)
    model=$(demo_model)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if pid=$(running_pid "$dir"); then
        log "a server (pid $pid) already runs from $dir; stop it first"
        exit 1
    fi
    port=$(free_port)
    # As the README starts it: a KV cache split into one 4,096-token share per slot (no
    # --kv-unified), so every channel's history stays evaluated in its slot and the slots can
    # never overflow together; /props reports the share, which the bot uses as each channel's
    # window. --no-cache-idle-slots: no copy of every idle slot to RAM whenever a task starts.
    # Its own stdin/stdout/stderr, so `$(llama_server.sh start)` does not wait for it to exit.
    "$bin" --model "$model" --host 127.0.0.1 --port "$port" --ctx-size 16384 --parallel 4 \
        --no-cache-idle-slots --threads 2 "$@" </dev/null >"$dir/server.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/server.pid"
    # If it never becomes healthy, leave no server behind.
    # shellcheck disable=SC2064  # expand $dir now: it is local to this function
    trap "stop '$dir' >/dev/null 2>&1" EXIT
    local deadline=$((SECONDS + start_timeout)) status
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "llama-server exited while starting; the end of $dir/server.log:"
            tail -n 30 "$dir/server.log" >&2
            exit 1
        fi
        # /health answers 503 while the model loads and 200 once it serves.
        status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health" || true)
        [ "$status" = 200 ] && break
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "llama-server not healthy after ${start_timeout} s (last /health: $status); the end of $dir/server.log:"
            tail -n 30 "$dir/server.log" >&2
            exit 1
        fi
        sleep 0.5
    done
    trap - EXIT
    log "server (pid $pid) on 127.0.0.1:$port, model $model, log in $dir/server.log"
    echo "export TAVERNKEEP_TEST_LLAMA_SERVER_URL=http://127.0.0.1:$port"
    echo "export TAVERNKEEP_TEST_LLAMA_SERVER_DIR=$dir"
}

stop() {
    local dir="${1:?usage: llama_server.sh stop DIR}" pid
    [ -d "$dir" ] || return 0
    if pid=$(running_pid "$dir"); then
        kill "$pid" 2>/dev/null || true
        # It exits within a second or two; a wedged one is killed outright.
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/server.pid"
}

case "${1:-}" in
    build) build ;;
    path) echo "$binary" ;;
    available) available ;;
    start)
        shift
        start "$@"
        ;;
    stop) stop "${2:-}" ;;
    *)
        echo "usage: $0 build | path | available | start DIR [llama-server args] | stop DIR" >&2
        exit 2
        ;;
esac
