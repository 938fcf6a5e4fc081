#!/usr/bin/env bash
# Throughput of the fake against the real redis-server and mini-redis, measured with
# redis-benchmark (-c 50, -t ping,set,get), without and with pipelining (-P 16).
#
#   scripts/bench-fake-redis.sh                     # N=40000 requests per test, 3 rounds
#   N=20000 ROUNDS=1 scripts/bench-fake-redis.sh    # quicker
#
# Each round runs real, fake, mini-redis one after the other; the table shows the median round
# per cell, which damps the noise of a shared 2-core machine.
#
# Needs redis-server and redis-benchmark (Debian: apt-get install redis-server redis-tools) and
# cargo. Builds the fake's release binary, installs mini-redis-server 0.4.1 under the target dir
# the first time, starts the three servers on free loopback ports, and stops every server it
# started on exit (trap EXIT). Targets: fake >= 0.5x real Redis, fake >= 1x mini-redis.
# mini-redis has no PING command (it closes the connection, so redis-benchmark would abort: its
# PING rows show n/a) and answers redis-benchmark's initial CONFIG GET with an error
# (redis-benchmark only warns "Could not fetch server CONFIG").
set -euo pipefail
cd "$(dirname "$0")/.."

N="${N:-40000}"
ROUNDS="${ROUNDS:-3}"
CLIENTS=50
TARGET="${CARGO_TARGET_DIR:-target}"
MINI_ROOT="$TARGET/mini-redis"
WORK="$(mktemp -d)"
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # exit through the EXIT trap: servers are stopped on Ctrl-C too

for tool in redis-server redis-benchmark cargo; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is not installed" >&2; exit 1; }
done

echo "== building the fake (release)"
cargo build --release -q -p fake-redis --bin fake-redis
FAKE_BIN="$TARGET/release/fake-redis"

if [ ! -x "$MINI_ROOT/bin/mini-redis-server" ]; then
    echo "== installing mini-redis-server 0.4.1 into $MINI_ROOT"
    cargo install -q mini-redis --version 0.4.1 --root "$MINI_ROOT"
fi

# A loopback port nobody listens on (and that we have not handed out yet).
USED=" "
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 30000))
        case "$USED" in *" $p "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            USED="$USED$p "
            echo "$p"
            return
        fi
    done
}

wait_listening() { # port name
    for _ in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "bench: $2 did not start listening on port $1" >&2
    exit 1
}

REAL_PORT=$(free_port)
FAKE_PORT=$(free_port)
MINI_PORT=$(free_port)

redis-server --port "$REAL_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --loglevel warning >"$WORK/real.log" 2>&1 &
PIDS+=($!)
"$FAKE_BIN" --port "$FAKE_PORT" --bind 127.0.0.1 ${FAKE_ARGS:-} >"$WORK/fake.log" 2>&1 &
PIDS+=($!)
"$MINI_ROOT/bin/mini-redis-server" --port "$MINI_PORT" >"$WORK/mini.log" 2>&1 &
PIDS+=($!)
wait_listening "$REAL_PORT" redis-server
wait_listening "$FAKE_PORT" fake-redis
wait_listening "$MINI_PORT" mini-redis-server

# Prints "TEST rps" lines for one server, pipeline depth and test list. A failed or stuck run
# (bounded at 60 s) prints what it has and a note on stderr instead of stopping the script.
bench() { # port pipeline tests
    if ! timeout --foreground 60 redis-benchmark -h 127.0.0.1 -p "$1" -q -n "$N" -c "$CLIENTS" -P "$2" \
        -t "$3" --csv 2>"$WORK/bench.err" >"$WORK/bench.csv"; then
        echo "   (redis-benchmark -p $1 -P $2 -t $3 failed: $(tr '\n' ' ' <"$WORK/bench.err"))" >&2
    fi
    awk -F'","' 'NR > 1 { gsub(/"/, "", $1); gsub(/"/, "", $2); print $1, $2 }' "$WORK/bench.csv"
}

rps() { # who pipeline test: the median over the rounds
    local r
    for r in $(seq 1 "$ROUNDS"); do
        awk -v t="$3" '$1 == t { print $2 }' "$WORK/$1.$2.$r"
    done | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}

ratio() { # a b
    if [ -z "$1" ] || [ -z "$2" ] || [ "$1" = n/a ] || [ "$2" = n/a ]; then echo n/a; return; fi
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

echo "== redis-benchmark -n $N -c $CLIENTS -t ping,set,get, median of $ROUNDS rounds ($(nproc) cores, $(date -u +%F), load $(cut -d' ' -f1-3 /proc/loadavg))"
echo "   real: $(redis-server --version | awk '{print $3}'), fake: $FAKE_BIN, mini-redis 0.4.1"
printf '%-14s %4s %12s %12s %12s %10s %10s\n' test P real fake mini fake/real fake/mini
for pipeline in 1 16; do
    for r in $(seq 1 "$ROUNDS"); do
        bench "$REAL_PORT" "$pipeline" ping,set,get >"$WORK/real.$pipeline.$r"
        bench "$FAKE_PORT" "$pipeline" ping,set,get >"$WORK/fake.$pipeline.$r"
        # mini-redis closes the connection on PING (unknown to it): only set,get.
        bench "$MINI_PORT" "$pipeline" set,get >"$WORK/mini.$pipeline.$r"
    done
    for test in PING_INLINE PING_MBULK SET GET; do
        real=$(rps real "$pipeline" "$test")
        fake=$(rps fake "$pipeline" "$test")
        mini=$(rps mini "$pipeline" "$test")
        printf '%-14s %4s %12s %12s %12s %10s %10s\n' "$test" "$pipeline" "${real:-n/a}" \
            "${fake:-n/a}" "${mini:-n/a}" "$(ratio "$fake" "$real")" "$(ratio "$fake" "$mini")"
    done
done
echo "   n/a for mini-redis PING: mini-redis 0.4.1 has no PING command (not benchmarked)."
echo "   targets: fake/real >= 0.5, fake/mini >= 1.0"
