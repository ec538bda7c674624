#!/bin/bash
# Issue 21 measurement: the screen's configurations on the same GSM8K slice, each beside self-consistency and
# best-of-N at the search's generated tokens, anytime budgets 0,4,8, grown ten problems at a time in each
# configuration in turn (so they stay paired whenever it is stopped). Re-run to resume.
#   bash eval/run_i21.sh [PROBLEMS=40] [CONCURRENCY=4] [DATA=data/gsm8k_test.jsonl] [CONFIGS="A B C D E"]
#   ROLLOUTS=0,4 bash eval/run_i21.sh 20 4 data/gsm8k_test.jsonl "D E"   # the budgets (default 0,4,8)
#   CAP=768 ROLLOUTS=0,4 bash eval/run_i21.sh 20 4 data/math500_test.jsonl "G"   # answers and rewrites capped at
#     768 tokens instead of 384 (MATH-500's worked answers run longer); a changed configuration, so its own run
#     file: i21-<data>-<config>-cap<CAP>.jsonl
#   Budgets other than 0,4 get their own run file too, named by them (ROLLOUTS=0,4,8 ->
#     i21-<data>-<config>-r0-4-8.jsonl): one anytime search records every budget, so a resumed file must not mix
#     budget-8 records with budget-4 records from another search. The 0,4 files keep their names.
#   A paper, literal (sampled rewards, the dummy expanded like any node)
#   B + probability rewards
#   C + min-max normalised UCT
#   D + the dummy capped (no lock-in; the paper preset's rule)
#   E + fresh answers every 2nd rollout
#   F D with exploration_c 0.3: under min-max Q lies in [0, 1], and c = 1.4 makes the least-visited (newest) leaf
#     win every selection, so the tree is a chain; 0.3 lets Q and visits both count
#   G E with a critique that checks instead of condemning (eval/i21-check-prompts.toml): the paper's "this answer
#     is weak" critique made rewrites turn right answers wrong more often than the reverse
# The body is one function, read whole before it runs: editing this file during a run cannot change that run.
main() {
set -euo pipefail
cd "$(dirname "$0")/.."
M=$(../shared/tools/eval-model.sh 2>/dev/null || /work/shared/tools/eval-model.sh)
DATA=${3:-data/gsm8k_test.jsonl}
name=$(basename "$DATA" .jsonl)
cap=()
suffix=
if [[ -n ${CAP:-} ]]; then
  [[ $CAP =~ ^[1-9][0-9]*$ ]] || { echo "run_i21.sh: CAP must be a positive number of tokens, not '$CAP'" >&2; exit 2; }
  cap=(--answer-max-tokens "$CAP" --refine-max-tokens "$CAP")
  suffix=-cap$CAP
fi
budgets=${ROLLOUTS:-0,4,8}
[[ $budgets =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "run_i21.sh: ROLLOUTS must be budgets like 0,4,8, not '$budgets'" >&2; exit 2; }
[[ $budgets == 0,4 ]] || suffix+=-r${budgets//,/-}
flags() {
  case $1 in
    A) echo "--reward-mode sampled --dummy-rule as_answer" ;;
    B) echo "--reward-mode probability --dummy-rule as_answer" ;;
    C) echo "--reward-mode probability --dummy-rule as_answer --q-transform min_max" ;;
    D) echo "--reward-mode probability --dummy-rule capped --q-transform min_max" ;;
    E) echo "--reward-mode probability --dummy-rule capped --q-transform min_max --fresh-every 2" ;;
    F) echo "--reward-mode probability --dummy-rule capped --q-transform min_max --exploration-c 0.3" ;;
    G) echo "--reward-mode probability --dummy-rule capped --q-transform min_max --fresh-every 2" \
            "--config eval/i21-check-prompts.toml" ;;
  esac
}
for n in $(seq 10 10 "${1:-40}"); do
  for c in ${4:-A B C D E}; do
    # shellcheck disable=SC2046  # the flags are a list
    .venv/bin/mctsr eval --data "$DATA" --limit "$n" --rollouts "$budgets" --model "$M" $(flags "$c") \
        "${cap[@]}" --baseline sc,best-of-n --concurrency "${2:-4}" --out "eval/results/i21-$name-$c$suffix.jsonl" \
        --progress lines
  done
done
}
main "$@"
