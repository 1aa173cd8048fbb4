#!/usr/bin/env bash
# Serving and feedback benchmarks of two trees, interleaved in one run (A B B A ...), against the same seeded
# databases, so a change's cost is read as a ratio under the same machine noise (docs/benchmarks.md).
#   bench/compare_trees.sh OLD_REV [NEW_REV] [ROUNDS]     e.g. bench/compare_trees.sh 3b96262 HEAD 2
# Each revision is checked out into a temporary worktree (this tree's .venv serves both).
# Needs PostgreSQL and Redis on loopback (BENCH_PG, BENCH_REDIS override them); writes var/bench/compare/.
set -euo pipefail
old_rev=${1:?usage: bench/compare_trees.sh OLD_REV [NEW_REV] [ROUNDS]}
new_rev=${2:-HEAD}
rounds=${3:-2}
repo=$(cd "$(dirname "$0")/.." && pwd)
py=$repo/.venv/bin/python
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
redis=${BENCH_REDIS:-redis://127.0.0.1:6379/9}
out=$repo/var/bench/compare
old=$(mktemp -d /tmp/tipengine-old-XXXX)
new=$(mktemp -d /tmp/tipengine-new-XXXX)
trap 'for t in "$old" "$new"; do git -C "$repo" worktree remove --force "$t" 2>/dev/null || rm -rf "$t"; done' EXIT
mkdir -p "$out"
for tree in old new; do
  rev=$old_rev; dir=$old; [ $tree = new ] && rev=$new_rev && dir=$new
  git -C "$repo" worktree add --detach --force "$dir" "$rev" >/dev/null
  ln -s "$repo/.venv" "$dir/.venv"
done

for db in serve feedback; do  # seeded by the new tree: both trees read the same rows
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS te_compare_$db" -c "CREATE DATABASE te_compare_$db"
  DATABASE_URL=$pg/te_compare_$db "$py" "$new/bench/seed.py" --migrate --reset --users 2000 --tips 200000 \
    --active 200 --tokens-file "$out/$db.tokens" >"$out/seed-$db.log" 2>&1
done

order=""
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then order+=" old:$r new:$r"; else order+=" new:$r old:$r"; fi
done
for run in $order; do
  tree=${run%%:*}; round=${run##*:}
  dir=$new; [ "$tree" = old ] && dir=$old
  (cd "$dir" && DATABASE_URL=$pg/te_compare_serve REDIS_URL=$redis "$py" bench/serve.py \
    --tokens-file "$out/serve.tokens" --variants normal --serial 500 --warmup 200 --seconds 5 \
    --out "$out/serve-$tree-$round.json" >"$out/serve-$tree-$round.log" 2>&1)
  (cd "$dir" && DATABASE_URL=$pg/te_compare_feedback REDIS_URL=$redis "$py" bench/feedback.py \
    --tokens-file "$out/feedback.tokens" --serial 500 --warmup 200 --seconds 5 \
    --out "$out/feedback-$tree-$round.json" >"$out/feedback-$tree-$round.log" 2>&1)
  echo "$tree round $round done"
done
