#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests, in a temporary directory on 127.0.0.1.
#
#   eval "$(scripts/postgres.sh start)"   # exports TAVERNKEEP_TEST_POSTGRES_URL and _DIR
#   scripts/postgres.sh stop "$TAVERNKEEP_TEST_POSTGRES_DIR"
#   scripts/postgres.sh available         # can `start` run here without installing anything?
#   scripts/postgres.sh install           # Debian's postgresql package, if initdb is missing
#
# `start` installs Debian's postgresql package when initdb/pg_ctl are missing; the test suite
# asks `available` first and never installs anything. initdb refuses to run
# as root, so as root the server runs as the package's unprivileged `postgres` user.
# The superuser `tavernkeep` logs in over TCP without a password; every other role needs
# its password (scram), so tests can check what a wrong password looks like.
set -euo pipefail
# runuser lives in sbin, which a non-login root shell may not have on PATH.
PATH="$PATH:/usr/sbin:/sbin"

superuser="tavernkeep"
database="tavernkeep_test"

log() { echo "postgres.sh: $*" >&2; }

find_bin_dir() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        # Follow symlinks: createdb and friends may exist only beside the real pg_ctl.
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        # An explicit 0: inside the EXIT trap a bare `return` repeats the failing status.
        return 0
    fi
    # Debian keeps the server binaries off PATH; take the newest installed version.
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

ensure_installed() {
    local dir
    if dir=$(find_bin_dir); then
        echo "$dir"
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || { log "initdb not found; install postgresql (needs root)"; exit 1; }
    log "installing Debian's postgresql package"
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
    find_bin_dir || { log "postgresql installed but initdb not found"; exit 1; }
}

# The server binaries' directory when `start` needs no install; else one line why, and status 1.
available() {
    local dir
    dir=$(find_bin_dir) || {
        log "initdb/pg_ctl not found; install PostgreSQL (as root: scripts/postgres.sh install)"
        exit 1
    }
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        log "initdb refuses root, and there is no 'postgres' user to run the server as"
        exit 1
    fi
    echo "$dir"
}

# Runs a server binary as the cluster owner: `postgres` when we are root, else ourselves.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local bin port
    bin=$(ensure_installed)
    dir=$(mktemp -d "${TMPDIR:-/tmp}/tavernkeep-pg.XXXXXX")
    # If anything below fails, leave no server or directory behind.
    trap 'stop "$dir" >/dev/null 2>&1' EXIT
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || { log "no 'postgres' user to run the server as"; exit 1; }
        chown postgres: "$dir"
    fi
    port=$(free_port)
    as_owner "$bin/initdb" -D "$dir/data" -U "$superuser" -E UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    # First match wins: the superuser is trusted on loopback, everyone else needs a password.
    { echo "host all $superuser 127.0.0.1/32 trust"; cat "$dir/data/pg_hba.conf"; } \
        | as_owner tee "$dir/data/pg_hba.new" >/dev/null
    as_owner mv "$dir/data/pg_hba.new" "$dir/data/pg_hba.conf"
    # A throwaway cluster needs no durability; skipping fsync makes CREATE DATABASE cheap.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
        "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        >&2 || { cat "$dir/server.log" >&2; exit 1; }
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$superuser" "$database" >&2
    trap - EXIT
    log "server on 127.0.0.1:$port, data in $dir"
    echo "export TAVERNKEEP_TEST_POSTGRES_URL=postgresql+asyncpg://$superuser@127.0.0.1:$port/$database"
    echo "export TAVERNKEEP_TEST_POSTGRES_DIR=$dir"
}

stop() {
    local dir="${1:?usage: postgres.sh stop DIR}" bin
    [ -d "$dir" ] || return 0
    if [ -f "$dir/data/postmaster.pid" ] && bin=$(find_bin_dir); then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >&2 || true
    fi
    rm -rf "$dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    available) available ;;
    install) ensure_installed ;;
    *)
        echo "usage: $0 start | stop DIR | available | install" >&2
        exit 2
        ;;
esac
