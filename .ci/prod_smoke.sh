#!/usr/bin/env bash
# Production smoke, without a Docker engine: .env.example's values with fresh secrets, static files built by the
# Dockerfile's own command, then docker-compose.yml's commands as written (migrate, gunicorn, every Celery
# service) against local PostgreSQL and Redis, with DEBUG=0. Checks what a user would: the admin and its
# stylesheet, a login, the probes, the HTTPS redirect, a tips call, a feedback call, and beat -> worker.
# Usage: .ci/prod_smoke.sh (needs .venv, PostgreSQL and Redis on loopback). SMOKE_DB, SMOKE_REDIS_DB, SMOKE_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE_DB=${SMOKE_DB:-tipengine_prod_smoke}
SMOKE_REDIS_DB=${SMOKE_REDIS_DB:-14}
SMOKE_PORT=${SMOKE_PORT:-8117}
started=$(date +%s)
say() { echo "[prod-smoke +$(( $(date +%s) - started ))s] $*"; }
fail() { echo "prod smoke FAILED: $*" >&2; for log in "$work"/*.log; do echo "== $log"; tail -40 "$log"; done >&2; exit 1; }
until_ok() {  # until_ok SECONDS COMMAND...: poll COMMAND until it succeeds
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do [ "$(date +%s)" -lt "$deadline" ] || return 1; sleep 0.5; done
}

work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -- -"$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

say "environment: .env.example, fresh secrets, local services"
set -a
# shellcheck disable=SC1091
. ./.env.example
eval "$(.venv/bin/python -m tipengine.generate_secrets)"
DATABASE_URL=postgres://postgres@127.0.0.1:5432/$SMOKE_DB
REDIS_URL=redis://127.0.0.1:6379/$SMOKE_REDIS_DB
STATIC_ROOT=$work/static
GUNICORN_BIND=127.0.0.1:$SMOKE_PORT
GUNICORN_WORKERS=2
TIPS_FINALIZE_INTERVAL_S=2   # beat's first send comes after one interval
PATH=$PWD/.venv/bin:$PATH
set +a
psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $SMOKE_DB" -c "CREATE DATABASE $SMOKE_DB"
redis-cli -n "$SMOKE_REDIS_DB" flushdb >/dev/null

say "a fake Ollama on loopback (the core profile's in-process router calls OLLAMA_URL)"
setsid python -c "
import time
from testsupport.llm.fake_ollama import FakeOllama
fake = FakeOllama().start()
print(fake.url, flush=True)
while True:
    time.sleep(60)
" >"$work/ollama.url" 2>"$work/ollama.log" &
pids+=($!)
until_ok 30 test -s "$work/ollama.url" || fail "the fake Ollama did not start"
OLLAMA_URL=$(cat "$work/ollama.url")
export OLLAMA_URL

say "static files, as the Dockerfile builds them"
collect=$(sed -n 's/^RUN \(.*manage\.py collectstatic[^&]*\).*/\1/p' Dockerfile)
[ -n "$collect" ] || fail "no collectstatic in the Dockerfile"
bash -c "$collect" >"$work/collectstatic.log" 2>&1 || fail "$collect"
test -s "$STATIC_ROOT/staticfiles.json" || fail "no staticfiles.json manifest"

# name<TAB>command of migrate, web and every Celery service, as docker-compose.yml runs them in the image.
python - >"$work/commands.tsv" <<'EOF'
import yaml

services = yaml.safe_load(open("docker-compose.yml"))["services"]
for name, service in services.items():
    if "build" in service:
        print(f"{name}\t{service['command']}")
EOF
command_of() { awk -F'\t' -v n="$1" '$1 == n {print $2}' "$work/commands.tsv"; }

say "migrate: $(command_of migrate)"
bash -c "$(command_of migrate)" >"$work/migrate.log" 2>&1 || fail "migrate"
DJANGO_SUPERUSER_PASSWORD=smoke-admin-pw-1 python manage.py createsuperuser --noinput \
  --username admin --email admin@example.org >/dev/null
token=$(python manage.py seed_demo --username smoke | sed -n 's/^Demo API token: //p')
[ -n "$token" ] || fail "seed_demo printed no token"

exporters=()  # each Celery worker's metrics exporter (in compose each has its own container and port 9808)
while IFS=$'\t' read -r name command; do
  [ "$name" = migrate ] && continue
  bind=""
  if [[ "$command" == *" worker"* ]]; then
    bind=127.0.0.1:$(( SMOKE_PORT + 1 + ${#exporters[@]} ))
    exporters+=("$name=$bind")
  fi
  say "start $name: $command"
  CELERY_METRICS_BIND=$bind setsid bash -c "exec $command" >"$work/$name.log" 2>&1 &
  pids+=($!)
done <"$work/commands.tsv"
[ "${#exporters[@]}" -ge 1 ] || fail "compose runs no Celery worker"

base=http://127.0.0.1:$SMOKE_PORT
site=(-H "Host: tips.example.org" -H "X-Forwarded-Proto: https")  # what Caddy sends
until_ok 60 curl -fsS "$base/healthz" || fail "gunicorn did not answer /healthz"
code() { curl -sS -o /dev/null -w '%{http_code}' "$@"; }

say "probes and the HTTPS redirect"
[ "$(code "${site[@]}" "$base/readyz")" = 200 ] || fail "/readyz: $(curl -sS "${site[@]}" "$base/readyz")"
[ "$(code -H "Host: tips.example.org" "$base/api/v1/tips/")" = 301 ] || fail "plain HTTP was not redirected"

say "the admin: login page, its stylesheet, a login"
curl -sS -D "$work/login.h" -o "$work/login.html" "${site[@]}" "$base/admin/login/"
grep -q "^HTTP/1.1 200" "$work/login.h" || fail "/admin/login/: $(head -1 "$work/login.h")"
css=$(grep -o '/static/admin/css/base\.[0-9a-f]*\.css' "$work/login.html" | head -1)
[ -n "$css" ] || fail "the login page links no hashed stylesheet"
[ "$(curl -sS -o "$work/base.css" -w '%{http_code}' "${site[@]}" "$base$css")" = 200 ] || fail "$css: not 200"
grep -q "font-family" "$work/base.css" || fail "$css is not the admin's stylesheet"
csrf_cookie=$(sed -n 's/^[Ss]et-[Cc]ookie: csrftoken=\([^;]*\).*/\1/p' "$work/login.h")
csrf_form=$(sed -n 's/.*name="csrfmiddlewaretoken" value="\([^"]*\)".*/\1/p' "$work/login.html")
curl -sS -D "$work/post.h" -o /dev/null "${site[@]}" -H "Cookie: csrftoken=$csrf_cookie" \
  -H "Referer: https://tips.example.org/admin/login/" --data-urlencode "csrfmiddlewaretoken=$csrf_form" \
  --data-urlencode username=admin --data-urlencode password=smoke-admin-pw-1 "$base/admin/login/?next=/admin/"
session=$(sed -n 's/^[Ss]et-[Cc]ookie: sessionid=\([^;]*\).*/\1/p' "$work/post.h")
[ -n "$session" ] || fail "the admin login set no session: $(head -1 "$work/post.h")"
curl -fsS -o "$work/admin.html" "${site[@]}" -H "Cookie: sessionid=$session" "$base/admin/"
grep -q "Site administration" "$work/admin.html" || fail "the admin index did not answer after login"

say "a tips call and a feedback call"
auth=(-H "Authorization: Token $token")
request_id=$(python -c 'import uuid; print(uuid.uuid4())')
tips=$(curl -fsS "${site[@]}" "${auth[@]}" -H "X-Request-ID: $request_id" "$base/api/v1/tips/?limit=2") \
  || fail "the tips call failed"
echo "$tips" | jq -e '.tips | length >= 1' >/dev/null || fail "no tip served: $tips"
tip_id=$(echo "$tips" | jq -r '.tips[0].id')
feedback=$(curl -fsS "${site[@]}" "${auth[@]}" -H "Content-Type: application/json" \
  -d '{"action": "accepted"}' "$base/api/v1/tips/$tip_id/feedback/") || fail "the feedback call failed"
say "served $(echo "$tips" | jq -c '[.tips[] | {source, kind}]'), feedback $(echo "$feedback" | jq -c '{action, reward}')"

say "beat -> broker -> worker"
worker_logs=("${exporters[@]%%=*}"); worker_logs=("${worker_logs[@]/#/$work/}"); worker_logs=("${worker_logs[@]/%/.log}")
until_ok 60 grep -q "recommender.finalize_rewards.*succeeded" "${worker_logs[@]}" \
  || fail "the worker ran no task that beat sent"

say "logs: JSON lines, the tips call's under its request id"
jq -e . "$work/web.log" >/dev/null || fail "web logged a line that is not JSON"
jq -se --arg id "$request_id" 'any(.[]; .request_id == $id and .logger == "tipengine.access")' "$work/web.log" \
  >/dev/null || fail "no access line under the request id $request_id"

say "metrics: web's /metrics and the worker's exporter moved"
bearer=(-H "Authorization: Bearer $METRICS_TOKEN")
[ "$(code "$base/metrics")" = 401 ] || fail "/metrics answered without the token"
curl -fsS "${bearer[@]}" "$base/metrics" >"$work/web.metrics" || fail "/metrics did not answer"
for exporter in "${exporters[@]}"; do
  curl -fsS "${bearer[@]}" "http://${exporter#*=}/" >>"$work/workers.metrics" || fail "no metrics from ${exporter%%=*}"
done
moved() {  # moved FILE PATTERN: a sample matching PATTERN has a value above 0
  grep -E "^$2" "$1" | awk '$NF > 0 {found=1} END {exit !found}' || fail "$2 did not move in $1"
}
moved "$work/web.metrics" 'tipengine_http_requests_total\{method="GET",route="api/v1/tips/",status="200"\}'
moved "$work/web.metrics" 'tipengine_db_queries_total\{outcome="ok"\}'
moved "$work/web.metrics" 'tipengine_tips_served_total\{'
moved "$work/web.metrics" 'tipengine_feedback_total\{action="accepted"\}'
moved "$work/web.metrics" 'tipengine_llm_breaker_state\{breaker="tip-generator",state="closed"\}'
moved "$work/workers.metrics" 'tipengine_celery_tasks_total\{outcome="success",task="recommender.finalize_rewards"\}'

say "green"
