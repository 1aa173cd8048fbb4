#!/usr/bin/env bash
# `make run` start-up on the embedded PostgreSQL: seconds from the command until /healthz answers, for a
# first run (no data folder: initdb, migrate, demo user), a second run with the server still running from the
# first, and a second run after `make stop`. Uses its own data folder (EMBEDDED_PGDATA), never var/postgres.
#   bench/startup.sh [ROUNDS]      (needs port 8000 free)
set -euo pipefail
cd "$(dirname "$0")/.."
export EMBEDDED_PGDATA=${TMPDIR:-/tmp}/tipengine-startup-pg-$$
rounds=${1:-3}

measure() {  # measure: seconds until /healthz answers; stops make run afterwards (the server stays)
  local start log=var/startup.log
  start=$(date +%s.%N)
  env -u DATABASE_URL -u REDIS_URL -u LITELLM_URL setsid make run >"$log" 2>&1 &
  local pid=$!
  until curl -fsS http://127.0.0.1:8000/healthz >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.05
  done
  python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$start" "$(date +%s.%N)"
  kill -- -"$pid"
  while curl -fsS http://127.0.0.1:8000/healthz >/dev/null 2>&1; do sleep 0.05; done
}

mkdir -p var
for round in $(seq "$rounds"); do
  first=$(measure)
  running=$(measure)
  make stop >/dev/null
  stopped=$(measure)
  make stop >/dev/null
  rm -rf "$EMBEDDED_PGDATA"
  echo "round $round: first ${first}s, second (server running) ${running}s, second (after make stop) ${stopped}s"
done
