#!/bin/bash
# Issue 12 measurement: the same GSM8K slice, both reward modes, anytime budgets 0 and 4, grown one problem at a
# time in both modes (so they stay paired). Re-run to resume: each `mctsr eval` skips what is recorded.
cd "$(dirname "$0")/.."
M=$(/work/shared/tools/eval-model.sh)
for n in $(seq 1 ${1:-20}); do
  for mode in probability sampled; do
    .venv/bin/mctsr eval --data data/gsm8k_test.jsonl --limit $n --rollouts 0,4 --model "$M" \
        --reward-mode $mode --out eval/i12-gsm8k-$mode.jsonl --no-progress
  done
done
