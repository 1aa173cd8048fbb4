#!/usr/bin/env bash
# Issue 12 (run once, kept for the record): interleaved old (3b96262, /tmp/old-i12, its .venv a symlink to ours) and new (/work/wt/i12) runs of bench/serve.py and bench/feedback.py,
# same venv, same databases, Redis DB 1.
set -u
PY=/work/wt/i12/.venv/bin/python
OUT=/work/wt/i12/var/bench
for run in old:1 new:1 new:2 old:2; do   # ABBA: each tree once early and once late
  tree=${run%%:*}; round=${run##*:}
  {
    dir=/work/wt/i12; [ $tree = old ] && dir=/tmp/old-i12
    cd $dir
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tipengine_i12_bench REDIS_URL=redis://127.0.0.1:6379/1 \
      $PY bench/serve.py --tokens-file $OUT/tipengine_i12_bench.tokens --variants normal --serial 500 --warmup 200 \
      --seconds 5 --out $OUT/serve-$tree-$round.json > $OUT/serve-$tree-$round.log 2>&1
    echo "serve $tree $round exit $?"
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tipengine_i12_fb REDIS_URL=redis://127.0.0.1:6379/1 \
      $PY bench/feedback.py --tokens-file $OUT/tipengine_i12_fb.tokens --serial 500 --warmup 200 \
      --seconds 5 --out $OUT/feedback-$tree-$round.json > $OUT/feedback-$tree-$round.log 2>&1
    echo "feedback $tree $round exit $?"
  }
done
