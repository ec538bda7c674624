"""The generation interface: what the solver asks of a model, and what it gets back.

Every backend (in-process llama.cpp, an OpenAI-compatible HTTP server, record/replay) takes a batch of
`GenerationRequest`s and returns one `GenerationResult` per request, in order. The solver never sees a
backend's internals, so a new backend slots in by implementing `Backend`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
import warnings
import weakref
from dataclasses import dataclass, field
from typing import Iterator, Literal, Protocol, Sequence, runtime_checkable

from ..errors import EngineClosedError, InvalidRequestError

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "error"]


@dataclass(frozen=True, kw_only=True)
class Message:
    """One chat turn; the backend renders turns with the model's own chat template."""

    role: Role
    content: str


@dataclass(frozen=True, kw_only=True)
class SamplingParams:
    """How to sample one completion. Defaults suit MCTSr's critique and refine calls."""

    max_tokens: int = 256  # hard cap on generated tokens for this call
    temperature: float = 0.7  # 0 means greedy decoding
    top_p: float = 0.95  # nucleus sampling mass
    top_k: int = 40  # keep the k most likely tokens (0 = off)
    min_p: float = 0.0  # drop tokens below min_p * p(best) (0 = off)
    seed: int | None = None  # per-request seed; None = derived from the backend's seed
    stop: tuple[str, ...] = ()  # generation ends before the first of these strings
    grammar: str | None = None  # GBNF grammar constraining the output (backends that support it)
    # candidate texts whose first token's log-probability at the first generated position each completion
    # reports in `Completion.candidate_logprobs` (e.g. (" Yes", "Yes", " No", "No") for a verdict); () = none
    logprobs_of: tuple[str, ...] = ()
    min_tokens: int = 0  # end-of-generation tokens are not drawn before this many tokens (benchmarks: = max_tokens)

    def validate(self) -> None:
        if self.max_tokens < 1:
            raise InvalidRequestError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if not (self.temperature >= 0.0):
            raise InvalidRequestError(f"temperature must be >= 0, got {self.temperature}")
        if not (0.0 < self.top_p <= 1.0):
            raise InvalidRequestError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise InvalidRequestError(f"top_k must be >= 0, got {self.top_k}")
        if not (0.0 <= self.min_p < 1.0):
            raise InvalidRequestError(f"min_p must be in [0, 1), got {self.min_p}")
        if any(not isinstance(t, str) or not t for t in self.logprobs_of):
            raise InvalidRequestError(f"logprobs_of must hold non-empty strings, got {self.logprobs_of!r}")
        if not (0 <= self.min_tokens <= self.max_tokens):
            raise InvalidRequestError(f"min_tokens must be in [0, max_tokens={self.max_tokens}], got {self.min_tokens}")


@dataclass(frozen=True, kw_only=True)
class GenerationRequest:
    """One prompt (chat messages) and `n` independent samples of its completion."""

    messages: tuple[Message, ...]
    params: SamplingParams = SamplingParams()
    n: int = 1  # samples of the same prompt (e.g. reward samples); they share the prompt's KV cache
    kind: str = "generic"  # call kind for accounting: "answer", "critique", "refine", "reward", ...
    # Optional text the assistant turn starts with (the model continues it). Counted as prompt.
    assistant_prefix: str = ""

    def validate(self) -> None:
        if not self.messages:
            raise InvalidRequestError("a request needs at least one message")
        if self.n < 1:
            raise InvalidRequestError(f"n must be >= 1, got {self.n}")
        self.params.validate()


@dataclass(frozen=True, kw_only=True)
class Completion:
    """One sampled completion."""

    text: str
    finish_reason: FinishReason  # "stop": EOG token or stop string; "length": hit max_tokens; "error"
    generated_tokens: int
    error: str | None = None  # set when finish_reason == "error": what went wrong for this sequence
    # log-probability of each `SamplingParams.logprobs_of` text's first token at the first generated position
    # (None where the backend could not tell, e.g. a server that returned fewer top tokens); () when not asked
    candidate_logprobs: tuple[float | None, ...] = ()


@dataclass(frozen=True, kw_only=True)
class GenerationResult:
    """The completions of one request (len == request.n) and its prompt accounting."""

    completions: tuple[Completion, ...]
    prompt_tokens: int  # tokens in the rendered prompt
    evaluated_prompt_tokens: int  # prompt tokens actually run through the model for this request
    reused_prompt_tokens: int  # prompt tokens served from the KV prefix cache
    error: Exception | None = None  # why the whole request could not run (its completions are errors)

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.completions]

    def raise_for_error(self) -> None:
        """Raise the request's error (typed: ContextOverflowError, GrammarError, ...) if it failed."""
        if self.error is not None:
            raise self.error


def failed_result(request: "GenerationRequest", error: Exception) -> GenerationResult:
    """The result of a request that could not run: n error completions carrying the message."""
    msg = str(error)
    return GenerationResult(
        completions=tuple(
            Completion(text="", finish_reason="error", generated_tokens=0, error=msg) for _ in range(request.n)
        ),
        prompt_tokens=0,
        evaluated_prompt_tokens=0,
        reused_prompt_tokens=0,
        error=error,
    )


@dataclass(kw_only=True)
class Usage:
    """Accounting of model work; backends keep a running total and report one per call."""

    calls: int = 0  # generate() calls
    requests: int = 0  # requests across calls
    sequences: int = 0  # sampled completions across requests
    prompt_tokens: int = 0  # prompt tokens evaluated by the model
    reused_tokens: int = 0  # prompt tokens reused from the prefix cache instead of evaluated
    generated_tokens: int = 0  # tokens sampled
    decode_seconds: float = 0.0  # seconds inside the model's decode (llama_decode or the server)
    wall_seconds: float = 0.0  # wall seconds inside generate()
    by_kind: dict[str, int] = field(default_factory=dict)  # sequences per request kind

    def count(self, request: "GenerationRequest", result: GenerationResult) -> None:
        """Add one request's work, read from its result: the request, its sequences and tokens."""
        self.requests += 1
        self.sequences += len(result.completions)
        self.prompt_tokens += result.evaluated_prompt_tokens
        self.reused_tokens += result.reused_prompt_tokens
        self.generated_tokens += sum(c.generated_tokens for c in result.completions)
        self.by_kind[request.kind] = self.by_kind.get(request.kind, 0) + len(result.completions)

    def add(self, other: "Usage") -> None:
        for f in dataclasses.fields(self):
            if f.name == "by_kind":
                for k, v in other.by_kind.items():
                    self.by_kind[k] = self.by_kind.get(k, 0) + v
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def copy(self) -> "Usage":
        u = Usage()
        u.add(self)
        return u

    def minus(self, earlier: "Usage") -> "Usage":
        """The work done since `earlier` (a copy taken before)."""
        u = Usage()
        for f in dataclasses.fields(self):
            if f.name == "by_kind":
                u.by_kind = {k: v - earlier.by_kind.get(k, 0) for k, v in self.by_kind.items()}
            else:
                setattr(u, f.name, getattr(self, f.name) - getattr(earlier, f.name))
        return u

    @classmethod
    def of_call(cls, requests: Sequence["GenerationRequest"], results: Sequence[GenerationResult], *,
                decode_seconds: float = 0.0, wall_seconds: float = 0.0) -> "Usage":
        """The work of one generate call, counted from its results (the one place tokens are counted)."""
        u = cls(calls=1, decode_seconds=decode_seconds, wall_seconds=wall_seconds)
        for request, result in zip(requests, results):
            u.count(request, result)
        return u


def request_seed(base: int, index: int) -> int:
    """The seed of the `index`-th request made under base seed `base`: the one derivation used everywhere
    (the model client per search, and backends for a request that comes without a seed)."""
    return (base * 1_000_003 + index) % 2**31


def sample_seed(seed: int, sample: int) -> int:
    """The seed of sample `sample` of a request seeded `seed` (its n samples must differ)."""
    return (seed + sample) % 2**32


@runtime_checkable
class Backend(Protocol):
    """A model that completes batches of chat requests. Backends only generate and count tokens: seeding,
    prompt fitting, per-search accounting and sharing belong to `generation.client`."""

    name: str  # short description, e.g. "llama.cpp:SmolLM2-135M-Instruct.Q4_1.gguf"
    usage: Usage  # running total since the backend was created
    last_usage: Usage  # the work of the calling thread's latest generate() call
    supports_grammar: bool  # whether SamplingParams.grammar is honoured
    thread_safe: bool  # whether several threads may call generate() at once (else share it via SharedBackend)
    merged_calls: int  # calls that ran in one engine batch with another search's (SharedBackend's clients; else 0)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Complete every request; results are in request order.

        Never raises for one request's problem: a request that cannot run (prompt too long, bad grammar)
        comes back with `error` set (see `GenerationResult.raise_for_error`) and a sequence that fails
        mid-batch has finish_reason "error", while the other requests and sequences complete. Raises
        only when the backend itself is unusable.
        """
        ...

    def count_tokens(self, messages: Sequence[Message], assistant_prefix: str = "") -> int:
        """Tokens of the rendered prompt for these messages (exact for llama.cpp, estimated for HTTP).
        A backend may remember the tokens, so generating the same prompt next does not tokenize it again."""
        ...

    @property
    def context_size(self) -> int:
        """Tokens of context one sequence may use (prompt + completion)."""
        ...

    def close(self) -> None: ...


PROTOCOL = ("name", "usage", "last_usage", "supports_grammar", "thread_safe", "generate", "count_tokens",
            "context_size", "close")  # what every backend has (Backend); ModelClient checks it up front


def missing_members(backend: object) -> list[str]:
    """The members of the Backend protocol that `backend` lacks (checked once, so the search reads them as
    plain attributes afterwards)."""
    return [m for m in PROTOCOL if not hasattr(backend, m)]


class BackendWrapper:
    """A backend over another (`inner`): everything it does not change is the inner backend's. The one base of
    the wrappers (the search's ModelClient, SharedClient, RecordingBackend); a subclass overrides what it
    changes, usually `generate`. Capabilities are the inner backend's attributes, read as such."""

    thread_safe = False  # a wrapper serves one search (or one ordered recording) unless it says otherwise
    merged_calls = 0

    def __init__(self, inner: Backend, *, label: str = "") -> None:
        self.inner = inner
        self.name = f"{label}:{inner.name}" if label else inner.name

    @property
    def supports_grammar(self) -> bool:
        return self.inner.supports_grammar

    @property
    def context_size(self) -> int:
        return self.inner.context_size

    @property
    def usage(self) -> Usage:
        return self.inner.usage

    @property
    def last_usage(self) -> Usage:
        return self.inner.last_usage

    def count_tokens(self, messages: Sequence[Message], assistant_prefix: str = "") -> int:
        return self.inner.count_tokens(messages, assistant_prefix)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        return self.inner.generate(requests)

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> "BackendWrapper":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CallGuard:
    """The calls inside a backend's model right now, and whether it is closing. `close()` frees native memory
    only once no call is left in it, so a call on another thread never runs on freed memory: a SIGTERM to
    `mctsr eval` used to free the llama.cpp context under a worker thread that was inside `llama_decode`
    (a segmentation fault). Calls are counted, not serialised: a thread-safe backend stays concurrent."""

    def __init__(self, owner: object) -> None:
        self._owner = weakref.ref(owner)  # named in the error (set after this guard is made); weak: no cycle
        self.closing = False  # read by a backend's decode loop to stop at its next step
        self._cond = threading.Condition()
        self._inside = 0

    @contextlib.contextmanager
    def call(self) -> Iterator[None]:
        with self._cond:
            if self.closing:
                name = getattr(self._owner(), "name", "the backend")
                raise EngineClosedError(f"{name} is closed (or closing): open a new backend to go on")
            self._inside += 1
        try:
            yield
        finally:
            with self._cond:
                self._inside -= 1
                self._cond.notify_all()

    def stop_if_closing(self) -> None:
        """For a call inside, between its steps: raise when close() is waiting for it, so it leaves now."""
        if self.closing:
            name = getattr(self._owner(), "name", "the backend")
            raise EngineClosedError(f"{name} was closed during this call; it is abandoned")

    def close(self, timeout: float) -> bool:
        """Refuse new calls and wait up to `timeout` seconds for those inside; False: some are still inside."""
        with self._cond:
            self.closing = True
            return self._cond.wait_for(lambda: self._inside == 0, timeout)


class BackendBase:
    """What every backend of this package shares: the running `usage`, the per-thread `last_usage`, and the
    seed of a request that comes without one. A subclass implements `_generate(requests, call)`, adding the
    seconds spent inside the model to `call.decode_seconds`; tokens are counted here, from the results."""

    name = "backend"
    supports_grammar = False
    thread_safe = False
    merged_calls = 0

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed  # base seed of requests that come without one
        self.usage = Usage()
        self._seeded = 0  # requests seeded here so far
        self._usage_lock = threading.Lock()
        self._local = threading.local()
        self._calls = CallGuard(self)

    @property
    def last_usage(self) -> Usage:
        return getattr(self._local, "usage", None) or Usage()

    def seed_of(self, request: GenerationRequest) -> int:
        """The request's own seed, else the next one derived from this backend's seed."""
        if request.params.seed is not None:
            return request.params.seed
        with self._usage_lock:
            self._seeded += 1
            return request_seed(self.seed, self._seeded - 1)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        t0 = time.perf_counter()
        requests = list(requests)
        call = Usage()
        with self._calls.call():
            results = self._generate(requests, call)
        u = Usage.of_call(requests, results, decode_seconds=call.decode_seconds,
                          wall_seconds=time.perf_counter() - t0)
        with self._usage_lock:
            self.usage.add(u)
        self._local.usage = u
        return results

    def _generate(self, requests: list[GenerationRequest], call: Usage) -> list[GenerationResult]:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the backend holds (a model, connections); nothing here."""

    # How long `close()` waits for calls on other threads to leave the model. The in-process engine stops a
    # call at its next decode step (well under a second on a GPU, seconds at most on a CPU).
    close_wait_seconds = 60.0

    def _quiesce(self) -> bool:
        """For a subclass's `close()`, before it frees native memory: refuse new calls, wait for those inside.
        False (with a warning) when one is still inside after `close_wait_seconds`: then the memory must be
        left allocated (the process reclaims it at exit), because freeing it under that call would crash."""
        calls = getattr(self, "_calls", None)
        if calls is None or calls.close(self.close_wait_seconds):  # None: __init__ failed before it was made
            return True
        warnings.warn(f"{self.name}: a call on another thread is still inside the model after "
                      f"{self.close_wait_seconds:.0f} s; its memory is left allocated instead of freed under it",
                      RuntimeWarning, stacklevel=3)
        return False
