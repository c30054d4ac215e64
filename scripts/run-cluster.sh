#!/usr/bin/env bash
# `make run-cluster`: a local PostgreSQL (scripts/pg.sh up) and three `whistle serve` processes
# on it, on ports 8080, 8081 and 8082, with the demo logins (docs/scale-out.md).
#
# The first process starts alone with --demo, which creates the demo logins once (the others
# find them in the database); then the other two. Ctrl-C (or SIGTERM) stops all three, each
# shutting down in order, and the script waits for them.
#
# PYTHON: the interpreter with whistle installed (default .venv/bin/python). PORTS, HOST and
# CONFIG: where and what to serve. WHISTLE_DB: a postgresql:// URL to use instead of starting
# the local PostgreSQL. Logs: var/cluster/<port>.log.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
PORTS="${PORTS:-8080 8081 8082}"
HOST="${HOST:-127.0.0.1}"
CONFIG="${CONFIG:-config}"
LOGS="${LOGS:-var/cluster}"

url="${WHISTLE_DB:-}"
if [ -z "$url" ]; then
  url=$(scripts/pg.sh up)
fi
mkdir -p "$LOGS"

pids=()
stop() {
  trap - INT TERM EXIT
  if [ "${#pids[@]}" -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  echo "run-cluster: stopped" >&2
}
trap 'stop; exit 130' INT TERM
trap stop EXIT

ready() {  # wait (at most a minute) until process $2 on port $1 has said it serves (after
  # its demo logins) and answers /readyz; $3: where its start begins in its log
  local port=$1 pid=$2 offset=$3
  for _ in $(seq 600); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "run-cluster: the process on port $port exited; see $LOGS/$port.log" >&2
      tail -n 20 "$LOGS/$port.log" >&2 || true
      return 1
    fi
    if tail -c +"$((offset + 1))" "$LOGS/$port.log" | grep -q '^whistle: serving on' &&
      "$PYTHON" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" \
        "http://$HOST:$port/readyz" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "run-cluster: the process on port $port is not ready after a minute" >&2
  return 1
}

first=1
for port in $PORTS; do
  demo=()
  if [ "$first" = 1 ]; then demo=(--demo); fi
  offset=$(stat -c %s "$LOGS/$port.log" 2>/dev/null || echo 0)
  "$PYTHON" -m whistle.cli serve --host "$HOST" --port "$port" --db "$url" --config "$CONFIG" \
    --name "$HOST:$port" "${demo[@]}" >>"$LOGS/$port.log" 2>&1 &
  pids+=($!)
  ready "$port" "$!" "$offset"
  if [ "$first" = 1 ]; then  # the demo logins it printed (this start's)
    tail -c +"$((offset + 1))" "$LOGS/$port.log" | grep '^whistle: log in\|^  ' >&2 || true
  fi
  first=0
done
echo "run-cluster: serving on $(for p in $PORTS; do printf 'http://%s:%s ' "$HOST" "$p"; done)" >&2
echo "run-cluster: database $url; Ctrl-C stops all three" >&2
wait
