"""`mctsr solve`: one problem in, the answer and a one-screen summary out (`--json PATH` for the whole tree).

The option helpers are shared: `add_model_options` / `backend_from_args` (which model, where) and
`add_search_options` / `solve_config_from_args` (the SolveConfig fields), so `mctsr eval` can reuse them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from .cli_progress import add_progress_options
from .cli_summary import CAP_FLAGS, capped_note, reply_notes, summary_tail
from .generation import is_server
from .wording import plural, shown
from .cli_options import (
    DEFAULT_MODEL,
    SECTIONS,
    SEED_MAX,
    add_config_options,
    add_dataclass_flags,
    effective_config,
    finite_type,
    int_type,
    long_flag,
    to_toml,
)

__all__ = [
    "add_parser",
    "add_model_options",
    "backend_from_args",
    "add_search_options",
    "check_capacity",
    "solve_config_from_args",
    "format_summary",
    "cmd_solve",
]


MAX_PROBLEM_BYTES = 1 << 20  # a longer problem cannot fit any model's context: refused before reading more

# the argparse types, kept under their old names for the modules that import them
_int_at_least = int_type
_finite = finite_type
_positive = int_type(1)
_non_negative = int_type(0)
_seed = int_type(0, SEED_MAX)
_seconds = finite_type(0.0, strict=True)

_SECTION = {s.name: s for s in SECTIONS}
ANSWER_CAPS = ("answer_max_tokens", "critique_max_tokens", "refine_max_tokens")  # what --max-tokens sets


def _n_predict(text: str) -> int:
    """llama.cpp's `-n N`: here the cap of every answer; its -1 (no cap) is refused with the reason."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of tokens, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a number of tokens >= 1, got {value} (llama.cpp's -1 = no limit is not offered: every "
            "answer has a cap, so a runaway reply cannot fill the context; give e.g. -n 512)")
    return int_type(1)(text)


def add_model_options(p: argparse.ArgumentParser) -> None:
    """Which model runs the search: a GGUF file (default: the SmolLM2 model), or OpenAI-compatible servers
    (`-m/--model`, `--server`: ModelSource, a config file's [model]); then every field of LlamaOptions and
    HttpOptions as a flag (llama.cpp's spellings where they exist)."""
    add_dataclass_flags(p, _SECTION["model"])
    add_dataclass_flags(p, _SECTION["llama"])
    add_dataclass_flags(p, _SECTION["http"])


def _given_flags(args: argparse.Namespace, section: str) -> dict[str, Any]:
    prefix = section + "."
    return {k[len(prefix):]: v for k, v in vars(args).items() if k.startswith(prefix) and v is not None}


def check_model_options(args: argparse.Namespace) -> str | None:
    """The model argument (a path, URLs, or None for the default) from the flags and the config file's [model],
    after the checks that need no model: --model and --server together, --server without an http(s) URL,
    server options without a server."""
    from .errors import InvalidConfigError

    source = effective_config(args)["model"]
    model, server = source.get("path"), source.get("server")
    if model and server:
        raise InvalidConfigError("give --model or --server (a config file's [model] path or server), not both")
    target = server or model
    is_url = is_server(target)
    urls = [u.strip() for u in (target or "").split(",") if u.strip()] if is_url or server else []
    bad = [u for u in urls if not u.startswith(("http://", "https://"))]
    if bad:
        raise InvalidConfigError(f"servers need http:// or https:// URLs, got {bad[0]!r}")
    http_given = _given_flags(args, "http")
    if http_given and not is_url:
        flag = long_flag("http", sorted(http_given)[0])
        what = "HTTP requests" if flag == "--timeout" else "the servers"
        raise InvalidConfigError(f"{flag} applies to --server ({what}); the in-process model has none")
    return target


def backend_options(args: argparse.Namespace) -> dict[str, Any]:
    """The engine options in force (config file, then flags) for the backend the model argument names."""
    target = check_model_options(args)
    config = effective_config(args)
    if is_server(target):  # servers: their options, the context size, and any engine
        options = dict(config["http"])  # flag given (the backend refuses those by name)
        options.update(_given_flags(args, "llama"))
        if "n_ctx" in config["llama"]:
            options["n_ctx"] = config["llama"]["n_ctx"]
        return options
    return dict(config["llama"])


def backend_from_args(args: argparse.Namespace, *, seed: int = 0) -> Any:
    """Open the backend the model options describe (the caller closes it)."""
    from .generation import open_backend

    return open_backend(check_model_options(args), seed=seed, **backend_options(args))


def check_capacity(args: argparse.Namespace, config: Any) -> None:
    """Before the model loads: the search's options must fit the in-process engine's sequences, KV cells and
    context (capacity.check_fits), so that a value it cannot serve fails now, by name."""
    from .capacity import check_fits
    from .generation.llama.engine import engine_capacity  # imports llama_cpp: only when a local model is run

    target = check_model_options(args)
    if not is_server(target):
        check_fits(config, engine_capacity(backend_options(args)))


def add_search_options(p: argparse.ArgumentParser, *, skip: tuple[str, ...] = ()) -> None:
    """The SolveConfig and TreeConfig flags, one per field (leave out the fields in `skip`, e.g.
    ("rollouts", "seed") for `mctsr eval`), `--max-tokens`, `--config` and `--print-config`."""
    skip = tuple(s.lstrip("-").replace("-", "_") for s in skip)
    add_dataclass_flags(p, _SECTION["search"], skip=skip)
    g = p.add_argument_group("search shortcuts")
    g.add_argument("-n", "--n-predict", dest="n_predict", type=_n_predict, default=None, metavar="N",
                   help="llama.cpp's -n: the cap of every answer the search writes, the first and each rewrite "
                        "(= --answer-max-tokens and --refine-max-tokens; the per-kind flags override it)")
    g.add_argument("--max-tokens", type=_positive, default=None, metavar="N",
                   help="cap of answers, critiques and rewrites at once (-n and the per-kind flags override it)")
    g.add_argument("--no-grammar", dest="search.use_grammar", action="store_const", const=False,
                   help=argparse.SUPPRESS)  # the old spelling of --no-use-grammar
    add_dataclass_flags(p, _SECTION["tree"])
    add_config_options(p)


def solve_config_from_args(args: argparse.Namespace) -> Any:
    """The SolveConfig the config file and flags describe (fields not given keep their defaults); validated.
    Tree fields given override the `rules` preset's; `[prompts]` in the file override the templates."""
    from .prompts import Prompts
    from .solve_config import SolveConfig, tree_preset

    config = effective_config(args)
    given = dict(config["search"])
    caps = {name: getattr(args, "max_tokens", None) for name in ANSWER_CAPS}
    if getattr(args, "n_predict", None) is not None:  # llama.cpp's -n caps the answers the search writes
        caps.update(answer_max_tokens=args.n_predict, refine_max_tokens=args.n_predict)
    for name, cap in caps.items():
        if cap is not None and getattr(args, f"search.{name}", None) is None:
            given[name] = cap
    if config["tree"]:
        given["tree"] = tree_preset(given.get("rules", "paper"), **config["tree"])
    if config["prompts"]:
        given["prompts"] = dataclasses.replace(Prompts(), **config["prompts"])
    try:
        solve_config = dataclasses.replace(SolveConfig(), **given)
    except TypeError as e:
        from .errors import InvalidConfigError

        raise InvalidConfigError(f"bad search option: {e}") from None
    solve_config.validate()
    return solve_config


def print_config(args: argparse.Namespace, solve_config: Any, skip: tuple[str, ...] = ()) -> None:
    """`--print-config`: the effective config as TOML, with each field's comment, loadable by --config
    (`skip`: search fields the command sets itself, e.g. eval's per-record rollouts and seed)."""
    from .cli_options import field_docs

    from .solve_config import tree_preset

    d = solve_config.to_dict()
    tree_config = solve_config.tree if solve_config.tree is not None else tree_preset(solve_config.rules)
    tree = tree_config.to_dict()  # rollout_budget 0 = follow rollouts, as the search itself reads it
    search = {k: v for k, v in d.items() if k not in ("tree", "prompts", *skip)}
    engine = backend_options(args)
    target = check_model_options(args)
    is_url = is_server(target)
    engine_section = "http" if is_url else "llama"
    defaults = _SECTION[engine_section].load()()
    engine_all = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(defaults)
                  if f.name not in _SECTION[engine_section].no_flag}
    engine_all.update({k: v for k, v in engine.items() if k in engine_all})
    docs = {s.name: field_docs(s.load()) for s in SECTIONS}
    docs["model"] = {**docs["model"], "path": docs["model"]["path"] + f"; none = {DEFAULT_MODEL}"}
    source = effective_config(args)["model"]
    model = {"path": source.get("path"), "server": source.get("server")}
    print(to_toml({"model": model, "search": search, "tree": tree, engine_section: engine_all,
                   "prompts": d["prompts"]}, docs), end="")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `solve` on the `mctsr` command."""
    p = sub.add_parser(
        "solve", help="solve one math problem with MCTSr",
        description="Search for the best answer to one problem with Monte Carlo Tree Self-Refine and print it "
                    "with a summary. Ctrl-C stops the search and prints the best answer found so far. "
                    "--method sc answers by self-consistency instead: independent answers and their majority.")
    p.add_argument("problem", nargs="?", default=None, help="the problem text, or - to read standard input")
    p.add_argument("-f", "--file", type=Path, default=None,
                   help="read the problem from this file (llama.cpp's -f: the prompt file)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the full result (with tree)")
    p.add_argument("--show-text", action="store_true", help="also print the chosen answer's full text")
    add_progress_options(p, default="lines")
    add_model_options(p)
    add_search_options(p)
    from . import cli_solve_sc, cli_view

    cli_view.add_solve_option(p)
    cli_solve_sc.add_options(p)
    p.set_defaults(func=cmd_solve)


def _read_problem(args: argparse.Namespace) -> str:
    from .errors import InvalidProblemError
    from .safe_io import read_regular

    if args.file is not None and args.problem is not None:
        raise InvalidProblemError("give the problem as an argument, with --file, or on standard input (-), once")
    if args.file is not None:
        if args.file.is_dir():
            raise InvalidProblemError(f"cannot read {args.file}: it is a directory")
        try:
            raw = read_regular(args.file, MAX_PROBLEM_BYTES, hint=" (for standard input give -)")
        except OSError as e:
            raise InvalidProblemError(f"cannot read {args.file}: {e.strerror or e}") from None
        return _decode_problem(raw, str(args.file))
    if args.problem == "-" or (args.problem is None and not sys.stdin.isatty()):
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:  # a text stream (tests, embedding): bounded all the same
            return _check_size(sys.stdin.read(MAX_PROBLEM_BYTES + 1), "standard input")
        return _decode_problem(stream.read(MAX_PROBLEM_BYTES + 1), "standard input")
    if args.problem is None:
        raise InvalidProblemError('no problem given: mctsr solve "PROBLEM", --file PATH, or - for standard input')
    return _check_size(args.problem, "the problem argument")


def _check_size(text: str, source: str) -> str:
    from .errors import InvalidProblemError
    from .safe_io import text_problem

    why = text_problem(text, source)  # an argument that was not UTF-8 arrives with lone surrogates
    if why:
        raise InvalidProblemError(why)

    if len(text.encode("utf-8", "surrogatepass")) > MAX_PROBLEM_BYTES:
        raise InvalidProblemError(f"{source} is longer than {MAX_PROBLEM_BYTES >> 20} MiB: not a math problem "
                                  "(no model context holds it)")
    return text


def _decode_problem(raw: bytes, source: str) -> str:
    """The problem as text: at most MAX_PROBLEM_BYTES, UTF-8 (a BOM is dropped), no NUL bytes."""
    from .errors import InvalidProblemError

    if len(raw) > MAX_PROBLEM_BYTES:
        raise InvalidProblemError(f"{source} is longer than {MAX_PROBLEM_BYTES >> 20} MiB: not a math problem "
                                  "(no model context holds it)")
    try:
        text = raw.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as e:
        raise InvalidProblemError(
            f"{source} is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}): convert it, e.g. "
            "`iconv -f latin1 -t utf-8`"
        ) from None
    if "\x00" in text:
        raise InvalidProblemError(f"{source} holds NUL bytes: it is binary data, not a problem's text")
    return text


def _fmt_q(q: float | None) -> str:
    return "-" if q is None else f"{q:.1f}"


def format_summary(result: Any, model_name: str = "") -> str:
    """The one-screen summary of a SolveResult. It names only the node the selector in force chose, gives
    every number its scale, and says when a reply was cut by its token cap."""
    s, sel = result.stats, result.selectors
    vote, best = sel["vote"], sel["max_q"]
    answers = [n for n in result.nodes if n["kind"] == "answer"]
    extracted = sum(1 for n in answers if n["answer"] is not None)
    depth = max((n["depth"] for n in result.nodes), default=0)
    chosen = next((n for n in result.nodes if n["id"] == result.node), None)
    if result.node is None:
        how = "  no answer node to choose (the search made none)"
    elif result.selector == "vote":
        how = (f"  chosen by vote: node {result.node}, support {vote['support']:.2f} "
               f"(support = sum over the agreeing answer nodes of (Q + 100) / 200, i.e. 0..1 per node)")
    elif vote.get("node") is None and (result.config or {}).get("selector", "vote") == "vote":
        how = f"  vote found no extractable answer; chosen by max-Q: node {result.node}, own Q " \
              f"{_fmt_q(best['q'])} on [-100, 100]"
    else:
        how = f"  chosen by max-Q: node {result.node}, own Q {_fmt_q(best['q'])} on [-100, 100]"
    lines = [f"answer: {result.answer if result.answer is not None else '(none extracted)'}", how]
    if result.selector == "vote" and best.get("node") == result.node:
        lines.append(f"  max-Q agrees (own Q {_fmt_q(best['q'])} on [-100, 100])")
    elif result.selector == "vote" and best.get("node") is not None:
        lines.append(f"  max-Q would choose: {shown(best['answer'])} (node {best['node']}, own Q "
                     f"{_fmt_q(best['q'])} on [-100, 100])")
    elif result.selector == "max_q" and vote.get("node") is not None:
        lines.append(f"  vote would choose: {shown(vote['answer'])} (node {vote['node']}, support "
                     f"{vote['support']:.2f}, 0..1 per agreeing answer node)")
    groups = len(vote.get("groups", []))
    lines += [
        f"tree: {plural(len(result.nodes), 'node')} ({plural(len(answers), 'answer')}, {extracted} with an "
        f"extractable answer, {groups} distinct), {plural(s['rollouts'], 'rollout')} in "
        f"{plural(s['steps'], 'step')} (step 0 = the first answer and the dummy), max depth {depth}",
        f"tokens: {s['prompt_tokens']} evaluated, {s['reused_tokens']} reused, {s['generated_tokens']} generated "
        f"in {plural(s['model_calls'], 'model call')} ({plural(s['sequences'], 'sequence')})",
        f"time: {s['model_seconds']:.1f} s in the model, {s['wall_seconds']:.1f} s wall; "
        f"stopped: {s['stop_reason']}",
    ]
    notes = []
    if chosen is not None and chosen.get("finish") == "length":
        kind = "answer" if chosen.get("critique") is None else "refine"  # the first answer has no critique
        notes.append(f"the chosen answer was cut off by its token cap (raise {CAP_FLAGS[kind]})")
    capped = capped_note(s)
    if capped:
        notes.append(capped)
    if s.get("reward_fallbacks"):
        notes.append(f"{plural(s['reward_fallbacks'], 'answer')} got the fallback reward (no parseable score)")
    if s.get("reward_unparsed"):
        n = s["reward_unparsed"]
        notes.append(f"{plural(n, 'reward reply', 'reward replies')} without a score {'was' if n == 1 else 'were'} "
                     "retried")
    return summary_tail(lines, notes + reply_notes(s), model_name)


def _model_loaded(args: argparse.Namespace, config: Any, progress: Any) -> Any:
    """Open the backend, saying so before (the load takes seconds) and after (with the time it took)."""
    import time

    target = check_model_options(args)
    progress.event("model_loading", f"loading model {target or '(default: SmolLM2-135M-Instruct)'} ...",
                   model=target)
    t = time.perf_counter()
    backend = backend_from_args(args, seed=config.seed)
    seconds = time.perf_counter() - t
    name = getattr(backend, "name", "")
    progress.event("model_loaded", f"model {name} loaded in {seconds:.1f} s", model=name, seconds=seconds)
    return backend


def cmd_solve(args: argparse.Namespace) -> int:
    from .cli_info import provenance
    from .cli_progress import Progress, iso_now, progress_mode
    from .errors import MctsrError
    from .runfile import atomic_write_text, check_writable
    from .solver import check_problem, solve

    from . import cli_solve_sc, cli_view

    config = solve_config_from_args(args)
    cli_solve_sc.check_args(args)  # --method sc with a flag it would ignore fails before anything else
    if args.print_config:
        print_config(args, config)
        return 0
    problem = check_problem(_read_problem(args))
    check_capacity(args, cli_solve_sc.capacity_config(args, config))
    cli_view.check_solve(args)  # a bad --view path fails before the model loads
    progress = Progress(progress_mode(args))
    if args.json is not None:  # before any model work: a bad path must not cost the whole search
        check_writable(args.json, what="--json")
    if args.method == "sc":
        return cli_solve_sc.run(args, config, problem, progress, lambda: _model_loaded(args, config, progress),
                                check_model_options(args), backend_options(args))

    def on_step(rec: Any) -> None:
        speed = rec.generated_tokens / rec.model_seconds if rec.model_seconds > 0 else 0.0
        fields = {"step": rec.step, "rollouts": rec.rollouts, "of": config.rollouts, "best_answer": rec.best_answer,
                  "best_q": rec.best_q, "seconds": rec.seconds, "generated_tokens": rec.generated_tokens,
                  "tokens_per_second": speed}
        what = ("initialized: first answer scored" if rec.step == 0
                else f"step {rec.step}: rollouts {rec.rollouts}/{config.rollouts}")
        progress.event("first_answer" if rec.step == 0 else "rollout",
                       f"{what}, best answer so far {shown(rec.best_answer, '(none extracted yet)')}, "
                       f"best own Q so far {_fmt_q(rec.best_q)} on [-100, 100] "
                       f"({rec.seconds:.1f} s, {speed:.0f} tokens/s)", **fields)

    started = iso_now()
    backend = _model_loaded(args, config, progress)
    try:
        progress.event("search_started", "search started: writing the first answer ...", problem_chars=len(problem))
        result = solve(problem, backend=backend, config=config, progress=on_step)
    finally:
        backend.close()
    result.provenance = provenance(check_model_options(args), {
        "solve": result.config, "engine": backend_options(args)}, started)
    progress.event("done", f"done: {result.stats['stop_reason']}", answer=result.answer, node=result.node,
                   selector=result.selector, capped_replies=result.stats.get("capped_replies"))
    print(format_summary(result, getattr(backend, "name", "")), flush=True)  # first: a late failure keeps it
    if args.show_text:
        print("\n--- chosen answer ---\n" + result.text, flush=True)
    if args.json is not None:
        data = result.to_dict()
        data["tree"] = result.tree
        try:
            atomic_write_text(args.json, json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
        except OSError as e:
            raise MctsrError(f"cannot write --json {args.json}: {e.strerror or e} (the summary above is the "
                             "result)") from None
    cli_view.after_solve(args, result)
    if args.json is not None:
        print(f"result written to {args.json}", file=sys.stderr)
    return 0 if result.stats["stop_reason"] != "cancelled" else 130
