"""`mctsr solve --method sc`: answer one problem by self-consistency (consistency.py) instead of the
search: `--samples N` independent answers from the search's answer prompt, the majority by equivalence.

The options that shape the answers keep their meaning (`--temp`, `--top-p`, `--answer-max-tokens` / `-n`,
`--seed`, `--answer-kind`, `--max-seconds`, `--token-budget`, the prompts of `--config`, every model option).
A search option given as a flag is refused by name before the model loads: it would change nothing, and a user
who gave it expects it to.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .cli_summary import capped_note, reply_notes, summary_tail
from .consistency import DEFAULT_SAMPLES, READS
from .wording import plural, shown

__all__ = ["METHODS", "DEFAULT_SAMPLES", "add_options", "check_args", "capacity_config", "format_summary", "run"]

METHODS = ("mctsr", "sc")
_READS_FLAGS = "--samples, --temp, --top-p, --answer-max-tokens (-n), --seed, --answer-kind, --max-seconds, " \
               "--token-budget, the prompts of --config and the model options"


def add_options(p: argparse.ArgumentParser) -> None:
    from .cli_options import int_type
    from .consistency import MAX_SAMPLES

    g = p.add_argument_group("method")
    g.add_argument("--method", choices=METHODS, default="mctsr",
                   help="mctsr: the tree search; sc: self-consistency, N independent answers and their "
                        "majority (what `mctsr eval --baseline sc` measures beside the search) [default: mctsr]")
    g.add_argument("--samples", type=int_type(1, MAX_SAMPLES), default=None, metavar="N",
                   help=f"with --method sc: the answers to draw [default: {DEFAULT_SAMPLES}]")


def check_args(args: argparse.Namespace) -> None:
    """Before any model work: --samples only with --method sc; with sc, no flag it would ignore."""
    from .cli_options import long_flag
    from .errors import InvalidConfigError

    if args.method != "sc":
        if args.samples is not None:
            raise InvalidConfigError("--samples applies to --method sc (self-consistency); the search's "
                                     "count is --rollouts")
        return
    if getattr(args, "view", None) is not None:
        raise InvalidConfigError("--view draws the search tree, and --method sc builds none: leave out --view "
                                 "(--json keeps every answer drawn)")
    for key, value in vars(args).items():
        section, _, name = key.partition(".")
        if value is None or section not in ("search", "tree") or (section == "search" and name in READS):
            continue
        flag = long_flag(section, name)
        if section == "search" and name == "use_grammar":
            flag = "--use-grammar" if value else "--no-use-grammar"
        raise InvalidConfigError(f"{flag} does not apply to --method sc: self-consistency builds no tree and "
                                 f"draws no reward; it reads {_READS_FLAGS}")


def capacity_config(args: argparse.Namespace, config: Any) -> Any:
    """The config whose fit to the engine is checked before the model loads: under --method sc only the answers'
    cap is drawn, so the search's other caps and reward samples (a shared config file's) cannot refuse it."""
    from .consistency import answers_only

    return answers_only(config) if args.method == "sc" else config


def format_summary(result: Any, model_name: str = "") -> str:
    """The one-screen summary of an ScResult: the majority, how many agreed, the runner-up, the cost."""
    s = result.stats
    drawn, groups = len(result.samples), result.groups
    missing = drawn - s["extracted"]
    if result.chosen is None:
        how = "  no answer drawn"
    elif not groups:
        how = f"  no draw had an extractable answer ({plural(drawn, 'answer')}); the first draw is shown"
    else:
        how = (f"  chosen by self-consistency: {result.votes} of {plural(drawn, 'answer')} give it "
               f"({plural(len(groups), 'distinct final answer')}" + (f", {missing} without one" if missing else "")
               + f"); its text is draw {result.chosen}, counted from 0")
    if result.chosen is None:
        first = "(none: no answer was drawn)"
    else:
        first = result.answer if result.answer is not None else "(none extracted)"
    lines = [f"answer: {first}", how]
    if len(groups) > 1:
        runner = groups[1]
        lines.append(f"  runner-up: {shown(result.samples[runner[0]].answer)} ({plural(len(runner), 'answer')})")
    lines += [
        f"tokens: {s['prompt_tokens']} evaluated, {s['reused_tokens']} reused, {s['generated_tokens']} generated "
        f"in {plural(s['model_calls'], 'model call')} ({plural(s['sequences'], 'sequence')})",
        f"time: {s['model_seconds']:.1f} s in the model, {s['wall_seconds']:.1f} s wall; "
        f"stopped: {s['stop_reason']} ({drawn} of {s['of']} answers drawn)",
    ]
    notes = []
    chosen = result.samples[result.chosen] if result.chosen is not None else None
    if chosen is not None and chosen.finish == "length":
        notes.append("the shown answer was cut off by its token cap (raise --answer-max-tokens)")
    capped = capped_note(s)
    if capped:
        notes.append(capped)
    return summary_tail(lines, notes + reply_notes(s), model_name)


def run(args: argparse.Namespace, config: Any, problem: str, progress: Any, open_model: Any,
        model: str | None, engine: dict[str, Any]) -> int:
    """Draw, vote, print; `open_model()` loads the backend (with its progress lines); `model` and `engine` (the
    model argument and the engine options in force) go into the result's provenance."""
    from .cli_info import provenance
    from .cli_progress import iso_now
    from .errors import MctsrError
    from .runfile import atomic_write_text
    from .consistency import self_consistency

    samples = args.samples if args.samples is not None else DEFAULT_SAMPLES

    def on_batch(p: Any) -> None:
        speed = p.generated_tokens / p.seconds if p.seconds > 0 else 0.0
        progress.event("sc_batch", f"answers {p.drawn}/{p.of}, majority so far {shown(p.answer, '(none extracted yet)')}"
                       f" ({plural(p.votes, 'vote')}) ({p.seconds:.1f} s, {speed:.0f} tokens/s)",
                       drawn=p.drawn, of=p.of, answer=p.answer, votes=p.votes, seconds=p.seconds,
                       generated_tokens=p.generated_tokens)

    started = iso_now()
    backend = open_model()
    try:
        progress.event("sc_started", f"self-consistency: drawing {plural(samples, 'answer')} ...", samples=samples)
        result = self_consistency(problem, backend=backend, config=config, samples=samples, progress=on_batch)
    finally:
        backend.close()
    result.provenance = provenance(model, {"solve": result.config, "method": "sc", "samples": samples,
                                           "engine": engine}, started)
    progress.event("done", f"done: {result.stats['stop_reason']}", answer=result.answer, votes=result.votes,
                   samples=len(result.samples), capped_replies=result.stats["capped_replies"])
    print(format_summary(result, getattr(backend, "name", "")), flush=True)  # first: a late failure keeps it
    if args.show_text:
        print("\n--- chosen answer ---\n" + result.text, flush=True)
    if args.json is not None:
        try:
            atomic_write_text(args.json, json.dumps(result.to_dict(), indent=1, ensure_ascii=False,
                                                    allow_nan=False) + "\n")
        except OSError as e:
            raise MctsrError(f"cannot write --json {args.json}: {e.strerror or e} (the summary above is the "
                             "result)") from None
        print(f"result written to {args.json}", file=sys.stderr)
    return 0 if result.stats["stop_reason"] != "cancelled" else 130
