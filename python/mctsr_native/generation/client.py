"""The model client: the one layer between a search and any backend.

A `ModelClient` serves one search. It owns what every search needs of a model and no backend should
repeat:

- **seeding**: request i of the search gets `request_seed(seed, i)`, so a search is reproducible whatever
  else the backend serves;
- **accounting**: the search's own `Usage`, counted once from its own results (exact even when the backend
  is shared with other searches), and the replies that hit their token cap, per call kind;
- **prompt fitting**: `fit(...)` shortens a prompt to the context with the token counts the backend returns;
  the in-process engine keeps those tokens, so generating the fitted prompt does not tokenize it again;
- **the failed-sequence fallback**: a sequence that errored comes back as an empty reply (counted), and a
  call whose every sequence failed raises `BackendError`.

Sharing one backend between concurrent searches is `BackendShare`: a thread-safe backend (HTTP) is called
by every search directly; the in-process engine, which is not thread-safe, is reached through
`SharedBackend`, which merges the calls of the searches in flight into one batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Iterator, Sequence

from ..errors import BackendError, InvalidConfigError
from .base import (Backend, BackendWrapper, GenerationRequest, GenerationResult, Message, Usage, missing_members,
                   request_seed)
from .shared import SharedBackend

__all__ = ["ModelClient", "BackendShare"]


class ModelClient(BackendWrapper):
    """One search's view of a backend (module doc): a backend wrapper with its own seeding and accounting."""

    def __init__(self, backend: Backend, *, seed: int = 0) -> None:
        missing = missing_members(backend)
        if missing:
            raise InvalidConfigError(
                f"backend must implement generation.base.Backend; {type(backend).__name__} lacks "
                f"{', '.join(missing)}: open one with mctsr_native.open_backend(), or subclass "
                "generation.base.BackendBase"
            )
        super().__init__(backend)
        self.backend = backend
        self.seed = seed
        self._usage = Usage()  # the work of this client's calls only
        self.requests = 0  # requests sent so far (request i is seeded request_seed(seed, i))
        self.error_replies = 0  # sequences that failed and were replaced by an empty reply
        self.empty_replies = 0  # replies with no text (failed ones included)
        self.capped: dict[str, int] = {}  # replies that stopped at their token cap, per call kind
        self.replies: dict[str, int] = {}  # replies per call kind
        self._floors: dict[tuple, int] = {}  # tokens of a prompt with its variable texts emptied

    @property
    def usage(self) -> Usage:
        """The work of this client's calls only (not the backend's running total)."""
        return self._usage

    def close(self) -> None:
        """Nothing: the backend belongs to whoever opened it, not to the search."""

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """One backend call: seeds the requests that have no seed, counts the call, checks the reply shape,
        and turns errored sequences into empty replies (raises BackendError if every sequence failed)."""
        seeded = []
        for r in requests:
            if r.params.seed is None:
                seed = request_seed(self.seed, self.requests)
                r = dataclasses.replace(r, params=dataclasses.replace(r.params, seed=seed))
            self.requests += 1
            seeded.append(r)
        t = time.perf_counter()
        results = self.backend.generate(seeded)
        wall = time.perf_counter() - t
        if len(results) != len(seeded) or any(len(res.completions) != r.n for res, r in zip(results, seeded)):
            raise BackendError(f"{self.name}: the backend returned the wrong number of completions")
        last = self.backend.last_usage
        decode = last.decode_seconds if isinstance(last, Usage) else wall
        self._usage.add(Usage.of_call(seeded, results, decode_seconds=decode, wall_seconds=wall))
        failed = 0
        for r, res in zip(seeded, results):
            for c in res.completions:
                self.replies[r.kind] = self.replies.get(r.kind, 0) + 1
                if c.finish_reason == "length" and r.params.max_tokens > 1:  # a one-token read (the verdict) is no cut text
                    self.capped[r.kind] = self.capped.get(r.kind, 0) + 1
                failed += c.finish_reason == "error"
                self.empty_replies += c.finish_reason == "error" or not c.text.strip()
        total = sum(len(res.completions) for res in results)
        if failed and failed == total:
            first = next(c for res in results for c in res.completions)
            raise BackendError(f"{self.name}: every sequence failed: {first.error or 'no message'}")
        self.error_replies += failed
        if failed:
            results = [dataclasses.replace(res, completions=tuple(
                dataclasses.replace(c, text="") if c.finish_reason == "error" else c for c in res.completions))
                for res in results]
        return results

    def floor_tokens(self, key: tuple, messages: Sequence[Message]) -> int:
        """Tokens of a prompt's fixed part (remembered per key: it does not change during a search)."""
        n = self._floors.get(key)
        if n is None:
            n = self._floors[key] = self.count_tokens(messages)
        return n


class BackendShare:
    """Hands each concurrent search a backend it may call from its own thread: the backend itself when it is
    thread-safe, else a client of one `SharedBackend` that merges the searches' calls into one batch."""

    def __init__(self, backend: Backend | None, *, max_wait: float = 0.05) -> None:
        self.backend = backend  # None: the searches bring their own model (an injected solve function)
        alone = backend is None or backend.thread_safe
        self.merger = None if alone else SharedBackend(backend, max_wait=max_wait)

    @contextlib.contextmanager
    def lease(self) -> Iterator[Backend]:
        """The backend one search uses while the block runs."""
        if self.merger is None:
            yield self.backend
            return
        with self.merger.client() as client:
            yield client
