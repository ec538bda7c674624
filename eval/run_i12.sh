#!/bin/bash
# Issue 12 measurement: the same GSM8K slice in each reward mode, anytime budgets 0 and 4, grown ten problems at a
# time in each mode in turn (so the modes stay paired whenever it is stopped). Re-run to resume: each `mctsr eval`
# skips what its run file already records.
#   bash eval/run_i12.sh [PROBLEMS=100] [CONCURRENCY=4]
# Environment: MODES (default "probability sampled"), FLAGS (more search flags, e.g. "--fresh-every 2") and TAG
# (appended to the run files' names, e.g. "-fresh2"): MODES=probability FLAGS="--fresh-every 2" TAG=-fresh2 ...
set -euo pipefail
cd "$(dirname "$0")/.."
M=$(../shared/tools/eval-model.sh 2>/dev/null || /work/shared/tools/eval-model.sh)
for n in $(seq 10 10 "${1:-100}"); do
  for mode in ${MODES:-probability sampled}; do
    # shellcheck disable=SC2086  # FLAGS is a list of flags
    .venv/bin/mctsr eval --data data/gsm8k_test.jsonl --limit "$n" --rollouts 0,4 --model "$M" \
        --reward-mode "$mode" --concurrency "${2:-4}" --out "eval/i12-gsm8k-$mode${TAG:-}.jsonl" \
        --progress lines ${FLAGS:-}
  done
done
