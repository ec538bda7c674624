"""The OpenAI-compatible HTTP backend (vLLM, SGLang, llama.cpp's `llama-server`, llama-cpp-python's server,
Ollama): how MCTSr scales past one machine. A list of servers acts as one fleet.

A request's `n` samples are one POST /v1/chat/completions with `n` where the server supports it (vLLM,
SGLang: `supports_n=True`), else `n` concurrent requests seeded seed, seed+1, ... All HTTP requests of one
`generate()` run at once on a thread pool, each on the least-loaded endpoint with a free slot.

Failures stay with their request. Connection errors, timeouts, 5xx, 429 and unparseable replies are retried
(`retries` more times, doubling backoff, on another endpoint when there is one); other 4xx are not. A request
that still fails comes back as `failed_result` with a `BackendError` (or `ContextOverflowError`) that says what
happened and what to do. `generate()` raises only when no endpoint could be reached at all.

Accounting: tokens from the server's `usage`; `prompt_tokens_details.cached_tokens` is reused, and so are the
prompts of the other n-1 samples of one `n` request (as the engine counts its forks). `decode_seconds` is the
time at least one request was in flight, so it never exceeds the wall time.

Assistant prefix: a trailing assistant message with `continue_final_message: true, add_generation_prompt:
false` (vLLM's fields; llama.cpp's server continues a trailing assistant message by itself). As with the
engine, the text returned is what follows the prefix (an echoed prefix is stripped). llama-cpp-python's server
closes that message and starts a new turn instead: there the prefix is context only.

Token counts: exact where the server renders and tokenizes a chat (vLLM: POST /tokenize with messages;
llama.cpp: POST /apply-template, then /tokenize); else the texts are tokenized (llama-cpp-python: POST
/extras/tokenize) plus `_TEMPLATE_TOKENS_PER_MESSAGE` per turn and `_TEMPLATE_TOKENS`, raised once per prompt
shape to what the server's `usage` showed; else ceil(chars / 3) plus the same overhead. The first method that
works is kept.

Grammars are not checked here (that needs llama.cpp's parser). Beware: a GBNF that does not parse kills
llama-cpp-python 0.3.36's server process; the request then fails as a broken connection.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence

import httpx

from ..errors import BackendError, InvalidConfigError, InvalidRequestError, MctsrError
from .base import (BackendBase, Completion, FinishReason, GenerationRequest, GenerationResult, Message, Usage,
                   failed_result, sample_seed)
from .http_wire import (
    DeadlineTransport,
    deadline,
    header_value_problem,
    read_capped,
    _HINTS,
    _TEMPLATE_TOKENS,
    _TEMPLATE_TOKENS_PER_MESSAGE,
    _AttemptError,
    _base_url,
    _error_completion,
    _estimate,
    _int,
    _split_tokens,
    _status_error,
)

API_KEY_ENV = "MCTSR_API_KEY"  # used when api_key is not given
_MAX_BACKOFF = 8.0  # seconds, the longest wait between two attempts
_DOWN_SECONDS = 5.0  # an endpoint that refused a connection is tried last for this long
_COUNT_CACHE = 4096  # token counts remembered
# The most a chat reply may weigh: room for every sample's max_tokens at a generous 64 bytes a token (JSON
# escapes included), plus 1 MiB for the envelope. More is a broken or hostile server: refused, not buffered.
_BYTES_PER_TOKEN = 64
_REPLY_ENVELOPE = 1 << 20
_OTHER_REPLY_CAP = 16 << 20  # model lists, templates and token lists


def _reply_cap(job: "_Job") -> int:
    return _REPLY_ENVELOPE + job.count * job.request.params.max_tokens * _BYTES_PER_TOKEN


@dataclass(frozen=True, kw_only=True)
class HttpOptions:
    """How the servers are called."""

    model: str | None = None  # model name sent to the server; None = first id of GET /v1/models, else "default"
    concurrency: int = 4  # HTTP requests in flight per endpoint
    supports_n: bool = False  # ask for a request's n samples in one HTTP request (vLLM, SGLang); else n requests
    grammar_field: str | None = "grammar"  # GBNF field: "grammar" (llama.cpp), "guided_grammar" (vLLM); None = none
    timeout: float = 120.0  # seconds one HTTP request may take in all (connect, send, reply), then it is retried
    retries: int = 2  # extra attempts after connection errors, timeouts, 5xx, 429 and garbage replies
    backoff: float = 0.5  # seconds before the first retry; doubles with each retry (at most 8 s)
    context_size: int = 4096  # tokens of context one sequence has on the server (prompt fitting uses it)
    api_key: str | None = None  # sent as "Authorization: Bearer"; None = $MCTSR_API_KEY if set
    seed: int = 0  # base seed; requests without a seed get one derived from it, the call and the request
    extra_body: Mapping[str, Any] | None = None  # fields merged into every chat request (server-specific)

    def validate(self) -> None:
        checks = [
            (self.concurrency >= 1, f"concurrency must be >= 1, got {self.concurrency}"),
            (isinstance(self.timeout, (int, float)) and not isinstance(self.timeout, bool)
             and 0 < self.timeout < float("inf"), f"timeout must be a finite number > 0 of seconds, got {self.timeout!r}"),
            (self.retries >= 0, f"retries must be >= 0, got {self.retries}"),
            (self.backoff >= 0, f"backoff must be >= 0 seconds, got {self.backoff}"),
            (self.context_size >= 64, f"context_size must be >= 64 tokens, got {self.context_size}"),
            (self.grammar_field is None or bool(self.grammar_field), "grammar_field must be a field name or None"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidConfigError(message)
        for name in ("api_key", "model"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InvalidConfigError(f"{name} must be a string or None, got {value!r}")
        if self.api_key is not None and (why := header_value_problem(self.api_key)):
            raise InvalidConfigError(f"api_key {why}: check how it was pasted (a trailing newline?)")


@dataclass(eq=False)
class _Endpoint:
    """One server and its load."""

    url: str
    in_flight: int = 0
    sent: int = 0  # HTTP requests sent to it (attempts)
    failed: int = 0  # attempts that failed
    down_until: float = 0.0  # refused a connection: tried last until then
    model: str | None = None


@dataclass
class _Job:
    """One HTTP chat request: `count` samples of request `req`."""

    req: int
    request: GenerationRequest
    count: int
    seed: int


@dataclass
class _Reply:
    texts: list[tuple[str, FinishReason, int]]  # (text, finish_reason, generated tokens) per sample
    prompt_tokens: int
    cached_tokens: int
    asked: int  # samples asked for (the server may return fewer when it ignores `n`)
    candidates: list = field(default_factory=list)  # per sample: SamplingParams.logprobs_of values


def _candidate_logprobs(choice: dict[str, Any], texts: Sequence[str]) -> tuple[float | None, ...]:
    """The log-probability of each text among the first position's `top_logprobs` of an OpenAI-style choice
    (None for a text not among them); () when the server returned no logprobs (the caller says what to do)."""
    content = (choice.get("logprobs") or {}).get("content") if isinstance(choice.get("logprobs"), dict) else None
    if not isinstance(content, list) or not content or not isinstance(content[0], dict):
        return ()
    top = {t.get("token"): t.get("logprob") for t in content[0].get("top_logprobs") or [] if isinstance(t, dict)}
    return tuple(float(top[x]) if isinstance(top.get(x), (int, float)) else None for x in texts)


class HttpBackend(BackendBase):
    """Generation on OpenAI-compatible servers (module doc)."""

    def __init__(self, urls: Sequence[str] | str, options: HttpOptions | None = None, **kw: Any) -> None:
        if options is None:
            options = HttpOptions(**_option_kwargs(kw))
        elif kw:
            raise InvalidConfigError("give HttpOptions or keyword options, not both")
        options.validate()
        super().__init__(options.seed)
        self.options = options
        urls = [u for u in ([urls] if isinstance(urls, str) else urls) if u.strip()]
        if not urls:
            raise InvalidConfigError("HttpBackend needs at least one server URL")
        self.endpoints = [_Endpoint(_base_url(u)) for u in urls]
        self.name = "http:" + ",".join(e.url for e in self.endpoints) + (f":{options.model}" if options.model else "")
        self.supports_grammar = options.grammar_field is not None
        self.thread_safe = True  # requests are independent HTTP calls
        key = options.api_key or os.environ.get(API_KEY_ENV)
        if key and (why := header_value_problem(key)):
            raise InvalidConfigError(f"the API key (${API_KEY_ENV}) {why}: check how it was set (a trailing newline?)")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        slots = options.concurrency * len(self.endpoints)
        limits = httpx.Limits(max_connections=slots + 4, max_keepalive_connections=slots + 4)
        self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(options.timeout),
                                    transport=DeadlineTransport(limits=limits))
        self._pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="mctsr-http")
        self._cond = threading.Condition()
        self._count_method: str | None = None
        self._counts: dict[tuple, int] = {}
        self._shape_extra: dict[bool, int] = {}  # template tokens the server showed beyond our count, by has-system

    # ----- the Backend interface -------------------------------------------------------------------

    @property
    def context_size(self) -> int:
        return self.options.context_size

    def _generate(self, requests: list[GenerationRequest], call: Usage) -> list[GenerationResult]:
        if self._pool is None:
            raise BackendError(f"{self.name}: the backend is closed")
        results: list[GenerationResult | None] = [None] * len(requests)
        jobs: list[_Job] = []
        for i, req in enumerate(requests):
            try:
                jobs += self._jobs(i, req)
            except MctsrError as e:
                results[i] = failed_result(req, e)
        t0 = time.perf_counter()
        outcomes = list(self._pool.map(self._run, jobs))
        call.decode_seconds += time.perf_counter() - t0  # the servers' time for this call
        by_request: dict[int, list] = {}
        for job, outcome in zip(jobs, outcomes):
            by_request.setdefault(job.req, []).append(outcome)
        for i, req in enumerate(requests):
            results[i] = results[i] or self._result(req, by_request[i])
        down = [o for o in outcomes if isinstance(o, _AttemptError) and o.kind == "unreachable"]
        if outcomes and len(down) == len(outcomes):
            raise BackendError(f"no server could be reached ({', '.join(e.url for e in self.endpoints)}): "
                               f"{down[0].detail}; {_HINTS['unreachable']}")
        return results  # type: ignore[return-value]

    def count_tokens(self, messages: Sequence[Message], assistant_prefix: str = "") -> int:
        key = (tuple((m.role, m.content) for m in messages), assistant_prefix)
        n = self._counts.get(key)
        if n is None:
            n = self._count(messages, assistant_prefix)
            if len(self._counts) >= _COUNT_CACHE:
                self._counts.clear()
            self._counts[key] = n
        has_system = any(m.role == "system" for m in messages)
        return n + self._shape_extra.get(has_system, 0)

    def endpoint_stats(self) -> list[dict[str, Any]]:
        """Per endpoint: its URL, HTTP requests sent and failed (attempts), and the model name it uses."""
        return [{"url": e.url, "sent": e.sent, "failed": e.failed, "model": e.model} for e in self.endpoints]

    def close(self) -> None:
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._client.close()
            self._pool = None  # type: ignore[assignment]

    def __enter__(self) -> "HttpBackend":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    # ----- one call ------------------------------------------------------------------------------------

    def _jobs(self, i: int, req: GenerationRequest) -> list[_Job]:
        req.validate()
        if req.params.grammar is not None and not self.supports_grammar:
            raise InvalidRequestError(
                f"{self.name} does not support grammars (grammar_field=None): drop SamplingParams.grammar, or "
                "name the server's grammar field (grammar_field='grammar' for llama.cpp, 'guided_grammar' for vLLM)"
            )
        seed = self.seed_of(req)
        if self.options.supports_n:
            return [_Job(i, req, req.n, seed)]
        return [_Job(i, req, 1, sample_seed(seed, j)) for j in range(req.n)]

    def _result(self, req: GenerationRequest, outcomes: list) -> GenerationResult:
        """Put a request's HTTP outcomes together; an outcome is a `_Reply` or the `_AttemptError` that ended it."""
        replies = [o for o in outcomes if isinstance(o, _Reply)]
        if not replies:
            return failed_result(req, outcomes[0].final)
        completions: list[Completion] = []
        for o in outcomes:
            if isinstance(o, _AttemptError):
                completions.append(_error_completion(str(o.final)))
                continue
            completions += [Completion(text=t, finish_reason=f, generated_tokens=g,
                                       candidate_logprobs=o.candidates[k] if k < len(o.candidates) else ())
                            for k, (t, f, g) in enumerate(o.texts)]
            why = (f"asked for n={o.asked} samples and the server returned {len(o.texts)}: it does not support n; "
                   "open the backend with supports_n=False")
            completions += [_error_completion(why)] * (o.asked - len(o.texts))
        prompt = max(o.prompt_tokens for o in replies)
        evaluated = sum(max(0, o.prompt_tokens - o.cached_tokens) for o in replies)
        sampled = sum(len(o.texts) for o in replies)
        return GenerationResult(
            completions=tuple(completions[: req.n]),
            prompt_tokens=prompt,
            evaluated_prompt_tokens=evaluated,
            reused_prompt_tokens=max(0, prompt * sampled - evaluated),
        )

    def _run(self, job: _Job) -> "_Reply | _AttemptError":
        """One HTTP request with its retries; never raises."""
        avoid: _Endpoint | None = None
        err: _AttemptError | None = None
        attempts = self.options.retries + 1
        for attempt in range(attempts):
            if attempt:
                delay = min(_MAX_BACKOFF, self.options.backoff * 2 ** (attempt - 1))
                if err is not None and err.retry_after is not None:
                    delay = max(delay, min(err.retry_after, _MAX_BACKOFF))
                time.sleep(delay)
            ep = self._acquire(avoid)
            try:
                reply = self._attempt(ep, job)
            except Exception as e:  # an unexpected library error stays with this request, too
                err = e if isinstance(e, _AttemptError) else _AttemptError("rejected", repr(e), retry=False)
                self._release(ep, err)
                avoid = ep
                if not err.retry:
                    attempts = attempt + 1
                    break
            else:
                self._release(ep, None)
                return reply
        assert err is not None
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        err.final = err.error_type(f"{ep.url}: {err.kind}{tries}: {err.detail}; {_HINTS[err.kind]}")
        return err

    def _acquire(self, avoid: _Endpoint | None) -> _Endpoint:
        """The least-loaded endpoint with a free slot, the one that just failed this request last. Endpoints that
        refused a connection in the last few seconds are used only when every endpoint did."""
        with self._cond:
            while True:
                now = time.monotonic()
                up = [e for e in self.endpoints if e.down_until <= now] or self.endpoints
                free = [e for e in up if e.in_flight < self.options.concurrency]
                if free:
                    ep = min(free, key=lambda e: (e is avoid, e.in_flight, e.sent))
                    ep.in_flight += 1
                    ep.sent += 1
                    return ep
                self._cond.wait(0.5)  # a release wakes us; so does a down endpoint's time running out

    def _release(self, ep: _Endpoint, err: _AttemptError | None) -> None:
        with self._cond:
            ep.in_flight -= 1
            ep.failed += err is not None
            if err is not None and err.kind == "unreachable":
                ep.down_until = time.monotonic() + _DOWN_SECONDS
            self._cond.notify()

    # ----- one attempt ---------------------------------------------------------------------------------

    def _attempt(self, ep: _Endpoint, job: _Job) -> _Reply:
        body = self._body(job, self._model(ep))
        r = self._send("POST", ep.url + "/v1/chat/completions", body, cap=_reply_cap(job))
        if r.status_code != 200:
            raise _status_error(r)
        try:
            data = r.json()
        except ValueError:
            raise _AttemptError("garbage", f"HTTP 200 but not JSON: {r.text[:200]!r}", retry=True) from None
        reply = self._parse(data, job)
        self._calibrate(job.request, reply.prompt_tokens, data)
        return reply

    def _send(self, method: str, url: str, body: Any = None, timeout: float | None = None,
              cap: int = _OTHER_REPLY_CAP) -> httpx.Response:
        """One HTTP request, finished within `timeout` (default: the option) in all, its body read up to `cap`."""
        timeout = timeout or self.options.timeout
        try:
            with deadline(timeout), self._client.stream(method, url, json=body, timeout=timeout) as r:
                return read_capped(r, cap)
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            raise _AttemptError("unreachable", f"cannot connect ({e or type(e).__name__})", retry=True) from None
        except httpx.TimeoutException as e:
            why = f"no complete reply within {timeout:g} s ({type(e).__name__})"
            raise _AttemptError("timeout", why, retry=True) from None
        except httpx.TransportError as e:
            raise _AttemptError("connection", f"{type(e).__name__}: {e}", retry=True) from None

    def _model(self, ep: _Endpoint) -> str:
        """The model name for this endpoint: the option, else the first id the server lists, else "default"."""
        if self.options.model:
            ep.model = self.options.model
        if ep.model is None:
            r = self._send("GET", ep.url + "/v1/models", timeout=min(self.options.timeout, 30.0))
            try:
                ep.model = str(r.json()["data"][0]["id"]) if r.status_code == 200 else "default"
            except (ValueError, KeyError, IndexError, TypeError):
                ep.model = "default"
        return ep.model

    def _body(self, job: _Job, model: str) -> dict[str, Any]:
        req, p = job.request, job.request.params
        messages = [{"role": m.role, "content": m.content} for m in req.messages]
        body: dict[str, Any] = {
            "model": model, "messages": messages, "max_tokens": p.max_tokens, "temperature": p.temperature,
            "top_p": p.top_p, "top_k": p.top_k, "min_p": p.min_p, "seed": job.seed, "stream": False,
            "repeat_penalty": 1.0,  # llama-cpp-python's server defaults to 1.1; the engine applies none
        }
        if p.stop:
            body["stop"] = list(p.stop)
        if p.min_tokens:
            body["min_tokens"] = p.min_tokens  # vLLM and SGLang honour it; llama.cpp's servers ignore it
        if job.count > 1:
            body["n"] = job.count
        if p.grammar is not None:
            body[self.options.grammar_field] = p.grammar  # type: ignore[index]
        if p.logprobs_of:  # the probability reward mode: the top tokens of the first position
            body["logprobs"] = True
            body["top_logprobs"] = 20
        if req.assistant_prefix:
            messages.append({"role": "assistant", "content": req.assistant_prefix})
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
        body.update(self.options.extra_body or {})
        return body

    def _parse(self, data: Any, job: _Job) -> _Reply:
        """The samples of a chat completion reply; `_AttemptError("garbage")` when it is not one."""
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices:
            raise _AttemptError("garbage", f"no choices in the reply: {str(data)[:200]!r}", retry=True)
        prefix = job.request.assistant_prefix
        texts: list[tuple[str, FinishReason]] = []
        candidates: list[tuple[float | None, ...]] = []
        for c in sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0):
            message = c.get("message") if isinstance(c, dict) else None
            if not isinstance(message, dict) or not isinstance(message.get("content") or "", str):
                raise _AttemptError("garbage", f"a choice without a message: {str(c)[:200]!r}", retry=True)
            text = message.get("content") or ""
            if prefix and text.startswith(prefix):
                text = text[len(prefix):]
            texts.append((text, "length" if c.get("finish_reason") == "length" else "stop"))
            if job.request.params.logprobs_of:
                candidates.append(_candidate_logprobs(c, job.request.params.logprobs_of))
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        prompt = _int(usage.get("prompt_tokens"))
        if prompt is None:
            prompt = self.count_tokens(job.request.messages, prefix)
        details = usage.get("prompt_tokens_details")
        cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else None
        generated = _int(usage.get("completion_tokens"))
        return _Reply(texts=_split_tokens(texts[: job.count], generated), prompt_tokens=prompt,
                      cached_tokens=cached or 0, asked=job.count, candidates=candidates)

    # ----- token counts --------------------------------------------------------------------------------

    def _count(self, messages: Sequence[Message], prefix: str) -> int:
        """Tokens of the rendered prompt by the first method that works (module doc). While the server is away,
        or when the kept method fails once, an estimate."""
        for method in [self._count_method] if self._count_method else ["vllm", "llama.cpp", "llama-cpp-python"]:
            if method == "estimate":
                break
            try:
                n = self._count_by(method, [{"role": m.role, "content": m.content} for m in messages], prefix)
            except _AttemptError as e:
                if self._count_method or e.kind in ("unreachable", "timeout", "connection"):
                    return _estimate(messages, prefix)
                continue
            self._count_method = method
            return n
        self._count_method = "estimate"
        return _estimate(messages, prefix)

    def _count_by(self, method: str, msgs: list[dict[str, str]], prefix: str) -> int:
        if method == "vllm":  # llama.cpp's /tokenize answers {"tokens": []} to this: no count, next method
            body: dict[str, Any] = {"model": self._model(self.endpoints[0]), "messages": msgs}
            if prefix:
                msgs.append({"role": "assistant", "content": prefix})
                body.update(add_generation_prompt=False, continue_final_message=True)
            n = self._tokenize_call("/tokenize", body, "count")
        elif method == "llama.cpp":
            prompt = self._tokenize_call("/apply-template", {"messages": msgs}, "prompt")
            n = len(self._tokenize_call("/tokenize", {"content": prompt + prefix, "add_special": True}, "tokens"))
        else:
            text = "\n".join(m["content"] for m in msgs) + prefix
            n = len(self._tokenize_call("/extras/tokenize", {"input": text}, "tokens"))
            n += _TEMPLATE_TOKENS + _TEMPLATE_TOKENS_PER_MESSAGE * len(msgs)
        if not n:
            raise _AttemptError("garbage", "no tokens", retry=False)
        return n

    def _tokenize_call(self, path: str, body: dict[str, Any], field: str) -> Any:
        """`field` of the server's answer to POST `path`; `_AttemptError` when there is none."""
        r = self._send("POST", self.endpoints[0].url + path, body, timeout=min(self.options.timeout, 30.0))
        if r.status_code != 200:
            raise _status_error(r)
        try:
            value = r.json()[field]
        except (ValueError, KeyError, TypeError):
            raise _AttemptError("garbage", f"no {field}", retry=False) from None
        if not isinstance(value, {"count": int, "prompt": str, "tokens": list}[field]):
            raise _AttemptError("garbage", f"no {field}", retry=False)
        return value

    def _calibrate(self, req: GenerationRequest, server_prompt: int, data: dict[str, Any]) -> None:
        """Once per prompt shape (with or without a system turn), learn how many template tokens the server
        adds beyond our count, when our count tokenizes the texts only (a chat template may add a default
        system prompt, for one)."""
        has_system = any(m.role == "system" for m in req.messages)
        if self._count_method != "llama-cpp-python" or has_system in self._shape_extra:
            return
        usage = data.get("usage")
        if not isinstance(usage, dict) or _int(usage.get("prompt_tokens")) is None:
            return
        ours = self.count_tokens(req.messages, req.assistant_prefix)
        self._shape_extra.setdefault(has_system, max(0, server_prompt - ours))


def _option_kwargs(kw: dict[str, Any]) -> dict[str, Any]:
    """Keyword options, with the in-process engine's `n_ctx` read as context_size; engine-only options are
    refused with a pointer to the server."""
    kw = {("context_size" if k == "n_ctx" else k): v for k, v in kw.items() if v is not None or k != "n_ctx"}
    known = {f.name for f in fields(HttpOptions)}
    for key in sorted(set(kw) - known):
        if key in ("n_gpu_layers", "n_threads", "n_batch", "flash_attn", "max_sequences", "prefix_cache"):
            raise InvalidConfigError(f"{key} applies to the in-process engine; set it on the server instead")
        raise InvalidConfigError(f"unknown HTTP backend option {key!r}; known: {', '.join(sorted(known))}")
    return kw
