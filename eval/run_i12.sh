#!/bin/bash
# Issue 12 measurement: the same GSM8K slice, both reward modes, anytime budgets 0 and 4. Re-run to resume.
cd "$(dirname "$0")/.."
M=$(/work/shared/tools/eval-model.sh)
for mode in probability sampled; do
  .venv/bin/mctsr eval --data data/gsm8k_test.jsonl --limit 10 --rollouts 0,4 --model "$M" --reward-mode $mode \
      --out eval/i12-gsm8k10-$mode.jsonl --no-progress
done
