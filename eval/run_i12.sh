#!/bin/bash
# Issue 12 measurement: the same GSM8K slice in both reward modes, anytime budgets 0 and 4, grown ten problems at a
# time in each mode in turn (so the two stay paired whenever it is stopped). Re-run to resume: each `mctsr eval`
# skips what its run file already records. Usage: bash eval/run_i12.sh [PROBLEMS=100] [CONCURRENCY=4]
set -euo pipefail
cd "$(dirname "$0")/.."
M=$(../shared/tools/eval-model.sh 2>/dev/null || /work/shared/tools/eval-model.sh)
for n in $(seq 10 10 "${1:-100}"); do
  for mode in probability sampled; do
    .venv/bin/mctsr eval --data data/gsm8k_test.jsonl --limit "$n" --rollouts 0,4 --model "$M" \
        --reward-mode $mode --concurrency "${2:-4}" --out eval/i12-gsm8k-$mode.jsonl --progress lines
  done
done
