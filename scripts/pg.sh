#!/usr/bin/env bash
# A local PostgreSQL for development and tests: `make pg-up` / `make pg-down`.
#
# up:   installs Debian's postgresql with apt-get when it is missing and we are root; creates
#       a cluster under var/pg/ (run as the postgres user when we are root: initdb refuses
#       root), starts it on 127.0.0.1:$PG_PORT, creates the role and database "whistle" and
#       writes the connection URL to var/pg/url (and prints it). Running it again is harmless.
# down: stops the cluster (its data stays under var/pg/data).
#
# Development only: local connections are trusted (127.0.0.1 and the socket in var/pg/run).
set -euo pipefail
cd "$(dirname "$0")/.."

PG_PORT="${PG_PORT:-55432}"
# PG_ROOT: another cluster (the restart test starts one of its own).
ROOT="${PG_ROOT:-$PWD/var/pg}"
DATA="$ROOT/data"
RUN="$ROOT/run"
LOG="$ROOT/postgres.log"
ROLE=whistle
DB=whistle

say() { echo "pg: $*" >&2; }

bindir() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$found" ] && [ -x "$found/initdb" ]; then echo "$found"; return 0; fi
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
  return 1
}

# Run a command as the cluster's owner: postgres when we are root, else ourselves.
as_owner() {
  if [ "$(id -u)" = "0" ]; then
    su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

install_pg() {
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    say "PostgreSQL is not installed and we cannot install it (not root, or no apt-get)"
    return 1
  fi
  say "installing Debian's postgresql"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib >/dev/null
}

up() {
  local bin
  if ! bin=$(bindir); then
    install_pg || exit 1
    bin=$(bindir) || { say "postgresql installed but initdb not found"; exit 1; }
  fi
  mkdir -p "$ROOT" "$RUN"
  if [ "$(id -u)" = "0" ]; then chown postgres:postgres "$ROOT" "$RUN"; fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    say "initdb in $DATA"
    as_owner "$bin/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 \
      --locale=C.UTF-8 >/dev/null
    {
      echo "listen_addresses = '127.0.0.1'"
      echo "port = $PG_PORT"
      echo "unix_socket_directories = '$RUN'"
      # Three whistle processes with their pools and the tests' connections.
      echo "max_connections = 200"
    } | as_owner tee -a "$DATA/postgresql.conf" >/dev/null
  fi
  if as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    say "already running"
  else
    as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null
  fi
  local psql=("$bin/psql" -h "$RUN" -p "$PG_PORT" -U postgres -d postgres -qtA -v ON_ERROR_STOP=1)
  if [ "$(as_owner "${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != "1" ]; then
    # CREATEDB: the tests make a database or schema of their own each.
    as_owner "${psql[@]}" -c "CREATE ROLE $ROLE LOGIN CREATEDB"
  fi
  if [ "$(as_owner "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]; then
    as_owner "${psql[@]}" -c "CREATE DATABASE $DB OWNER $ROLE"
  fi
  # pg_trgm (search) once per database, in public, as the superuser: a test's own schema
  # finds it on its search_path.
  PGOPTIONS="-c client_min_messages=warning" as_owner "$bin/psql" -h "$RUN" -p "$PG_PORT" \
    -U postgres -d "$DB" -qtA -v ON_ERROR_STOP=1 \
    -c "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public" >/dev/null
  local url="postgresql://$ROLE@127.0.0.1:$PG_PORT/$DB"
  echo "$url" >"$ROOT/url"
  echo "$url"
}

down() {
  local bin
  if ! bin=$(bindir) || [ ! -f "$DATA/PG_VERSION" ]; then say "no cluster in $DATA"; return 0; fi
  if as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    say "stopped"
  else
    say "not running"
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
