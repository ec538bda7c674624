"""The OpenAI chat-completions wire format of `mctsr serve`: model names, requests in, replies and stream chunks
out. Pure functions over JSON values (no web framework), so every rule is tested without a server.

- The model name picks the search: `mctsr` (the server's search: SolveConfig's defaults, 8 rollouts and width
  1, unless `mctsr serve` was given a config file or search flags), `mctsr-N` (N rollouts), `mctsr-N-pW` (N
  rollouts, W candidates refined per step in one batch). Every other option of a request starts from the
  server's search too. `mctsr-sc-N` (`mctsr-sc`: 8) answers by self-consistency instead (consistency.py, what
  `mctsr eval --baseline sc` measures and `mctsr solve --method sc` runs): N independent answers from the
  answer prompt and their majority by equivalence. It reads only the options that shape answers
  (`consistency.READS` and `prompts`); a search option in its `mctsr` field is a 400 naming it, since it would
  change nothing.
- The last user message is the problem. `temperature` and `top_p` are the sampling of answers and critiques
  (reward samples keep `reward_temperature`, so that they differ); `max_tokens` (or `max_completion_tokens`)
  caps every answer the search writes, the first one and each rewrite, since the reply is one of them
  (critiques keep their own cap); `seed` seeds the search.
- The body field `mctsr` takes any other SolveConfig field (validated by `SolveConfig.validate()`): numbers,
  booleans and names only, `prompts` as templates (strings) and `tree` as TreeConfig fields. Nothing in a
  request can name a file, a model or a path: the server's model is fixed when it starts. A template may
  name only its own fields (`{problem}` in problem_block, ...), with no format spec, conversion, attribute
  or index, and is at most 32 KiB (`prompts.template_problem`); a server started with --no-prompt-override
  refuses `prompts` outright. Options the server's model cannot serve (more samples than its sequences, a
  token cap beyond its context: `capacity.misfit`) are a 400 naming the value and the limit, before any work.
- Fields a search cannot honour (`n` > 1, `stop`, tools, a non-text response format, logprobs) are a 400;
  other fields of the OpenAI API (`user`, penalties, ...) are accepted, have no effect, and are listed in the
  reply's `mctsr.ignored_fields`.
- The reply's content is the chosen answer's full text; `usage` counts every token the search's model calls
  read or wrote (prompt_tokens = evaluated + reused from the prefix cache, the latter also in
  `prompt_tokens_details.cached_tokens`; completion_tokens = every generated token: answers, critiques,
  reward replies); `mctsr` carries the search summary (`method` "mctsr"), or self-consistency's (`method`
  "sc": the majority, its votes, the answers drawn and the largest groups).
- Streaming: progress chunks carry an empty `content` and the progress line in `delta.reasoning_content`
  (the field reasoning models use, which chat UIs show apart from the answer, and which clients that join
  the content deltas never mix into the answer), with the figures in the chunk's `mctsr` field; then one
  chunk with the whole answer as content, one with the finish reason and the summary, the usage chunk if
  `stream_options.include_usage`, and `[DONE]`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Mapping

from .capacity import Capacity, misfit
from .consistency import DEFAULT_SAMPLES, READS, ScProgress, ScResult, answers_only
from .prompts import Prompts, template_problem
from .safe_io import text_problem
from .solve_config import SolveConfig
from .tree import TreeConfig
from .wording import shown

__all__ = ["RequestError", "SearchRequest", "MAX_ROLLOUTS", "MAX_WIDTH", "MAX_SC_SAMPLES", "MODEL_FORMS",
           "listed_models", "search_shape", "sc_samples", "parse_chat_request", "completion", "chunk",
           "progress_chunk", "summary", "usage", "time_limit_note", "error_body"]

MAX_ROLLOUTS = 64  # the most rollouts a model name may ask for
MAX_WIDTH = 16  # the widest step a model name may ask for
MAX_SC_SAMPLES = 64  # the most answers a self-consistency name may ask for: as many replies as 64 rollouts' answers
MODEL_FORMS = {
    "mctsr": "MCTSr with the default search: 8 rollouts, one candidate refined per step",
    "mctsr-N": f"N rollouts (0..{MAX_ROLLOUTS}; 0 = the zero-shot chain-of-thought answer alone)",
    "mctsr-N-pW": f"N rollouts, W candidates refined per step in one batch (1..{MAX_WIDTH})",
    "mctsr-sc-N": f"self-consistency: N independent answers and their majority (1..{MAX_SC_SAMPLES}; mctsr-sc: "
                  f"{DEFAULT_SAMPLES})",
}
LISTED = ("mctsr", "mctsr-1", "mctsr-2", "mctsr-4", "mctsr-8", "mctsr-16", "mctsr-4-p2", "mctsr-8-p4", "mctsr-sc",
          "mctsr-sc-16")
_NAME = re.compile(r"mctsr(?:-(0|[1-9][0-9]*)(?:-p([1-9][0-9]*))?)?")
_SC_NAME = re.compile(r"mctsr-sc(?:-([1-9][0-9]*))?")
_PER_REQUEST = {"rollouts", "parallel"}  # chosen by the model name only
_UNSUPPORTED = {  # field -> (is the value harmless?, why it is refused)
    "n": (lambda v: v in (None, 1), "n must be 1: one search gives one answer"),
    "stop": (lambda v: v in (None, [], ""), "stop strings are not supported: the search writes whole answers"),
    "tools": (lambda v: not v, "tools are not supported by an MCTSr search"),
    "functions": (lambda v: not v, "functions are not supported by an MCTSr search"),
    "tool_choice": (lambda v: v in (None, "none", "auto"), "tool_choice is not supported by an MCTSr search"),
    "logprobs": (lambda v: v in (None, False), "logprobs are not supported by an MCTSr search"),
    "top_logprobs": (lambda v: v in (None, 0), "logprobs are not supported by an MCTSr search"),
    "response_format": (lambda v: v in (None, {"type": "text"}), "only text responses are supported"),
}
_USED = {"model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens",
         "max_completion_tokens", "seed", "mctsr"}


class RequestError(Exception):
    """A request the server refuses: HTTP status, an OpenAI error type, the message, the field at fault."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 kind: str = "invalid_request_error", code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.kind, self.code = status, message, param, kind, code


def error_body(message: str, kind: str, *, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """The OpenAI error object (what the `openai` client turns into its APIError classes)."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _forms() -> str:
    return "; ".join(f"{form} ({what})" for form, what in MODEL_FORMS.items())


def search_shape(model: Any, defaults: SolveConfig | None = None) -> tuple[int, int]:
    """(rollouts, width) named by a model name (`mctsr` alone: those of `defaults`, the server's search);
    RequestError (400) for any other name."""
    m = _NAME.fullmatch(model) if isinstance(model, str) else None
    if m is None:
        raise RequestError(400, f"unknown model {model!r:.80}: the model name chooses the search, one of "
                                f"{_forms()}; e.g. mctsr-8 or mctsr-4-p2", param="model", code="model_not_found")
    default = defaults or SolveConfig()
    rollouts = int(m.group(1)) if m.group(1) else default.rollouts
    width = int(m.group(2)) if m.group(2) else default.parallel
    if rollouts > MAX_ROLLOUTS or width > MAX_WIDTH:
        raise RequestError(400, f"model {model!r}: at most {MAX_ROLLOUTS} rollouts and width {MAX_WIDTH} "
                                f"({_forms()})", param="model", code="model_not_found")
    return rollouts, width


def sc_samples(model: Any) -> int | None:
    """The answers a self-consistency name (`mctsr-sc`, `mctsr-sc-N`) asks for; None for any other name.
    RequestError (400) when N is beyond MAX_SC_SAMPLES."""
    m = _SC_NAME.fullmatch(model) if isinstance(model, str) else None
    if m is None:
        return None
    samples = int(m.group(1)) if m.group(1) else DEFAULT_SAMPLES
    if samples > MAX_SC_SAMPLES:
        raise RequestError(400, f"model {model!r}: self-consistency draws at most {MAX_SC_SAMPLES} answers "
                                f"({_forms()})", param="model", code="model_not_found")
    return samples


def listed_models(created: int) -> dict[str, Any]:
    """GET /v1/models: a few ready names, and the forms every other name follows (`mctsr_forms`)."""
    data = [{"id": name, "object": "model", "created": created, "owned_by": "mctsr-native"} for name in LISTED]
    return {"object": "list", "data": data, "mctsr_forms": dict(MODEL_FORMS)}


@dataclass(frozen=True)
class SearchRequest:
    """A chat request turned into a search."""

    model: str
    problem: str
    config: SolveConfig
    stream: bool = False
    include_usage: bool = False  # stream_options.include_usage: a last chunk with the usage
    ignored_fields: tuple[str, ...] = ()  # OpenAI fields accepted without effect
    samples: int = 0  # > 0: answer by self-consistency with this many answers (model mctsr-sc-N), not the search

    @property
    def method(self) -> str:
        return "sc" if self.samples else "mctsr"


def _problem(messages: Any) -> str:
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "messages must be a non-empty list of chat messages", param="messages")
    for i, m in enumerate(reversed(messages)):
        if not isinstance(m, Mapping) or "role" not in m:
            raise RequestError(400, f"messages[{len(messages) - 1 - i}] must be an object with a role",
                               param="messages")
        if m["role"] != "user":
            continue
        content = m.get("content")
        if isinstance(content, list):  # content parts: text only
            if not all(isinstance(p, Mapping) and p.get("type") == "text" and isinstance(p.get("text"), str)
                       for p in content):
                raise RequestError(400, "only text content parts are supported in the user message",
                                   param="messages")
            content = "\n".join(p["text"] for p in content)
        if not isinstance(content, str) or not content.strip():
            raise RequestError(400, "the last user message must have text content: it is the problem to solve",
                               param="messages")
        why = text_problem(content, "the last user message")
        if why:
            raise RequestError(400, why, param="messages")
        return content
    raise RequestError(400, "no user message: the last user message is the problem to solve", param="messages")


def _number(value: Any, name: str, *, integer: bool = False) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool):
        raise RequestError(400, f"{name} must be {'an integer' if integer else 'a number'}, got {value!r:.60}",
                           param=name)
    return value


def _extra_fields(extra: Any, allow_prompts: bool = True, sc: bool = False) -> dict[str, Any]:
    """The `mctsr` body field as SolveConfig keyword arguments (types checked here, ranges by validate());
    prompt templates only when `allow_prompts`, and only named fields (prompts.template_problem); with `sc`
    (a self-consistency name) only the fields that shape its answers."""
    if not isinstance(extra, Mapping):
        raise RequestError(400, "mctsr must be an object of SolveConfig fields", param="mctsr")
    defaults = SolveConfig()
    fields = {f.name for f in dataclasses.fields(SolveConfig)} - _PER_REQUEST
    reads = sorted({*READS, "prompts"})
    out: dict[str, Any] = {}
    for key, value in extra.items():
        where = f"mctsr.{key}"
        if sc and key not in reads:
            raise RequestError(400, f"{where} does not apply to self-consistency (the mctsr-sc-N models draw "
                                    f"independent answers: no tree, no reward); it reads {', '.join(reads)}",
                               param=where)
        if key in _PER_REQUEST:
            raise RequestError(400, f"{where}: rollouts and width are chosen by the model name ({_forms()})",
                               param=where)
        if key not in fields:
            raise RequestError(400, f"{where} is not a search option; the options are: "
                                    f"{', '.join(sorted(fields))}", param=where)
        default = getattr(defaults, key)
        if key == "prompts":
            if not allow_prompts:
                raise RequestError(400, f"{where}: this server does not take prompt templates from requests "
                                        "(it was started with --no-prompt-override)", param=where)
            names = set(Prompts.__dataclass_fields__)
            if not isinstance(value, Mapping) or not all(k in names and isinstance(v, str) for k, v in value.items()):
                raise RequestError(400, f"{where} must map prompt names ({', '.join(sorted(names))}) to template "
                                        f"strings", param=where)
            for name, template in value.items():  # named fields only: no format spec, attribute or index
                why = template_problem(name, template)
                if why:
                    raise RequestError(400, f"mctsr.{why}", param=f"{where}.{name}")
            value = Prompts(**value)
        elif key == "tree":
            if not isinstance(value, Mapping) or not all(
                    isinstance(v, (str, int, float)) for v in value.values()):
                raise RequestError(400, f"{where} must be an object of TreeConfig fields", param=where)
            try:
                value = TreeConfig.from_dict(value)
            except (ValueError, TypeError) as e:
                raise RequestError(400, f"{where}: {e}", param=where) from None
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise RequestError(400, f"{where} must be true or false, got {value!r:.60}", param=where)
        elif isinstance(default, str):
            if not isinstance(value, str):
                raise RequestError(400, f"{where} must be a string, got {value!r:.60}", param=where)
        elif value is not None or default is not None:
            value = _number(value, where, integer=isinstance(default, int) or key == "token_budget")
        out[key] = value
    return out


def parse_chat_request(body: Any, *, max_seconds: float | None = None, capacity: Capacity | None = None,
                       allow_prompts: bool = True, defaults: SolveConfig | None = None) -> SearchRequest:
    """A POST /v1/chat/completions body as a validated search; RequestError naming the field at fault.
    `max_seconds`: the server's time limit per request (a request may ask for less); `capacity`: what the
    server's model holds (an option it cannot serve is a 400 naming the value and the limit, before any
    work); `allow_prompts`: whether `mctsr.prompts` may override the templates; `defaults`: the server's
    search (its config file and flags), which the request's fields override."""
    from .errors import InvalidConfigError

    if not isinstance(body, Mapping):
        raise RequestError(400, "the request body must be a JSON object")
    base = defaults or SolveConfig()
    samples = sc_samples(body.get("model"))
    rollouts, width = (base.rollouts, base.parallel) if samples else search_shape(body.get("model"), base)
    for name, (harmless, why) in _UNSUPPORTED.items():
        if name in body and not harmless(body[name]):
            raise RequestError(400, why, param=name)
    ignored = tuple(sorted(k for k in body if k not in _USED and k not in _UNSUPPORTED))
    problem = _problem(body.get("messages"))
    given: dict[str, Any] = {"rollouts": rollouts, "parallel": width}
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            given[name] = _number(body[name], name)
    cap = body.get("max_completion_tokens", body.get("max_tokens"))
    if cap is not None:
        cap = _number(cap, "max_tokens", integer=True)
        given.update(answer_max_tokens=cap, refine_max_tokens=cap)
    if body.get("seed") is not None:
        given["seed"] = _number(body["seed"], "seed", integer=True)
    given.update(_extra_fields(body.get("mctsr") or {}, allow_prompts, sc=bool(samples)))
    asked = given.get("max_seconds", base.max_seconds)
    if max_seconds is not None:
        if asked is not None and asked > max_seconds:
            raise RequestError(400, f"mctsr.max_seconds must be <= {max_seconds:g}, the server's limit per request",
                               param="mctsr.max_seconds")
        given["max_seconds"] = asked if asked is not None else max_seconds
    config = dataclasses.replace(base, **given)
    try:
        config.validate()
    except (InvalidConfigError, TypeError) as e:
        raise RequestError(400, f"invalid search option: {e}") from None
    fit = answers_only(config) if samples else config  # self-consistency draws answers only
    problem_at = misfit(fit, capacity) if capacity is not None else None
    if problem_at is not None:
        field_name, message = problem_at
        param = {"answer_max_tokens": "max_tokens", "refine_max_tokens": "max_tokens"}.get(field_name)
        if param is None or not any(k in body for k in ("max_tokens", "max_completion_tokens")):
            param = f"mctsr.{field_name}"
        raise RequestError(400, f"max_tokens: {message}" if param == "max_tokens" else message, param=param)
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise RequestError(400, "stream must be true or false", param="stream")
    options = body.get("stream_options") or {}
    include_usage = bool(isinstance(options, Mapping) and options.get("include_usage"))
    return SearchRequest(str(body["model"]), problem, config, stream, include_usage, ignored, samples or 0)


# ------------------------------------------------------------------------------------------------- replies

def usage(stats: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI usage of a whole search: every prompt token its calls read, every token they generated."""
    read = int(stats["prompt_tokens"]) + int(stats["reused_tokens"])
    generated = int(stats["generated_tokens"])
    return {"prompt_tokens": read, "completion_tokens": generated, "total_tokens": read + generated,
            "prompt_tokens_details": {"cached_tokens": int(stats["reused_tokens"])}}


def _chosen(result: Any) -> Mapping[str, Any] | None:
    return next((n for n in result.nodes if n["id"] == result.node), None)


def finish_reason(result: Any) -> str:
    """"length" when the chosen answer was cut by its token cap, else "stop"."""
    if isinstance(result, ScResult):
        cut = result.chosen is not None and result.samples[result.chosen].finish == "length"
        return "length" if cut else "stop"
    node = _chosen(result)
    return "length" if node is not None and node.get("finish") == "length" else "stop"


def time_limit_note(stats: Mapping[str, Any], max_seconds: Any) -> dict[str, Any] | None:
    """When a search ran past its time limit: by how much. The limit is checked between steps and a started
    step completes (its model calls cannot be cut short), so a wide step overruns it by up to its length."""
    wall = stats.get("wall_seconds")
    if not isinstance(max_seconds, (int, float)) or not isinstance(wall, (int, float)) or wall <= max_seconds:
        return None
    return {"max_seconds": max_seconds, "overran_seconds": round(wall - max_seconds, 3),
            "why": "the limit is checked between steps; the step in progress completed"}


def summary(result: Any, **extra: Any) -> dict[str, Any]:
    """The search in a few figures: both selectors' answers, Q, the tree's size, why it stopped, and by how
    much it overran its time limit (`time_limit`, only when it did)."""
    late = time_limit_note(result.stats, (extra.get("config") or {}).get("max_seconds"))
    if late is not None:
        extra = {**extra, "time_limit": late}
    if isinstance(result, ScResult):
        return _sc_summary(result, **extra)
    s, sel = result.stats, result.selectors
    node = _chosen(result)
    return {
        "method": "mctsr", "answer": result.answer, "selector": result.selector, "node": result.node,
        "q": None if node is None else node.get("q_own"),
        "vote": {"answer": sel["vote"]["answer"], "support": sel["vote"]["support"], "node": sel["vote"]["node"]},
        "max_q": {"answer": sel["max_q"]["answer"], "q": sel["max_q"]["q"], "node": sel["max_q"]["node"]},
        "tree": {"nodes": len(result.nodes), "answers": sum(n["kind"] == "answer" for n in result.nodes),
                 "max_depth": max((n["depth"] for n in result.nodes), default=0)},
        "rollouts": s["rollouts"], "steps": s["steps"], "stop_reason": s["stop_reason"],
        "model_calls": s["model_calls"], "model_seconds": round(s["model_seconds"], 3),
        "wall_seconds": round(s["wall_seconds"], 3), **extra,
    }


_SC_GROUPS = 5  # the largest answer groups a self-consistency summary lists


def _sc_summary(result: ScResult, **extra: Any) -> dict[str, Any]:
    """Self-consistency in a few figures: the majority and its votes, the answers drawn, the largest groups
    (answer, count), why it stopped."""
    s = result.stats
    groups = [{"answer": result.samples[g[0]].answer, "count": len(g)} for g in result.groups[:_SC_GROUPS]]
    return {
        "method": "sc", "answer": result.answer, "votes": result.votes, "chosen": result.chosen,
        "samples": s["samples"], "samples_planned": s["of"], "extracted": s["extracted"],
        "distinct_answers": len(result.groups), "groups": groups, "stop_reason": s["stop_reason"],
        "model_calls": s["model_calls"], "model_seconds": round(s["model_seconds"], 3),
        "wall_seconds": round(s["wall_seconds"], 3), **extra,
    }


def completion(rid: str, created: int, model: str, result: Any, **extra: Any) -> dict[str, Any]:
    """The chat.completion object of a finished search."""
    return {
        "id": rid, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": result.text},
                     "finish_reason": finish_reason(result), "logprobs": None}],
        "usage": usage(result.stats), "mctsr": summary(result, **extra),
    }


def chunk(rid: str, created: int, model: str, delta: dict[str, Any] | None, finish: str | None = None,
          **extra: Any) -> dict[str, Any]:
    """One chat.completion.chunk (delta None: the usage chunk, which has no choices)."""
    body: dict[str, Any] = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                            "choices": [] if delta is None else
                            [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
    body.update(extra)
    return body


def progress_chunk(rid: str, created: int, model: str, rec: Any, planned: int) -> dict[str, Any]:
    """A progress chunk: empty content, a readable line in reasoning_content, the figures in `mctsr`. `rec`: a
    search's StepReport (`planned`: its rollouts), or self-consistency's ScProgress, which carries its own."""
    if isinstance(rec, ScProgress):
        lead = shown(rec.answer, "(none extracted yet)")  # as `mctsr solve --method sc` prints it
        line = (f"[mctsr] self-consistency: answers {rec.drawn}/{rec.of}, majority so far {lead} "
                f"({rec.votes} of {rec.drawn}), {rec.generated_tokens} tokens generated\n")
        figures = {"event": "progress", "method": "sc", "samples": rec.drawn, "samples_planned": rec.of,
                   "answer": rec.answer, "votes": rec.votes, "generated_tokens": rec.generated_tokens}
        return chunk(rid, created, model, {"content": "", "reasoning_content": line}, mctsr=figures)
    what = "initial answer scored" if rec.step == 0 else f"rollout {rec.rollouts}/{planned}"
    q = "-" if rec.best_q is None else f"{rec.best_q:.1f}"
    best = "(none extracted yet)" if rec.best_answer is None else rec.best_answer
    line = f"[mctsr] {what}: best answer {best}, best Q {q}, {rec.generated_tokens} tokens generated\n"
    figures = {"event": "progress", "method": "mctsr", "step": rec.step, "rollouts": rec.rollouts,
               "rollouts_planned": planned, "best_answer": rec.best_answer, "best_q": rec.best_q,
               "generated_tokens": rec.generated_tokens}
    return chunk(rid, created, model, {"content": "", "reasoning_content": line}, mctsr=figures)
