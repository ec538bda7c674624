"""One in-process engine shared by several concurrent searches, their calls merged into one batch.

Each search (a thread) talks to its own `SharedClient`, which looks like any `Backend`. When a client
calls `generate`, it waits briefly for the other active clients to submit too (and again after a call that
ran while it waited, whose clients come back a moment later); then one of them runs all
pending requests through the engine in a single `generate` call (one llama_batch, shared prefix cache)
and hands every client its own results. So P problems in flight decode together, as the P candidates of
one search do, without a thread-safe engine. Per-client accounting is exact for tokens; model seconds of
a merged call are split in proportion to each client's tokens.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Sequence

from .base import Backend, BackendWrapper, GenerationRequest, GenerationResult, Message, Usage


@dataclass
class _Job:
    requests: Sequence[GenerationRequest]
    done: threading.Event = field(default_factory=threading.Event)
    results: list[GenerationResult] | None = None
    error: BaseException | None = None
    usage: Usage | None = None
    merged: bool = False  # served in an engine call together with another client's requests


class SharedBackend:
    """Merges the generate calls of concurrent clients into single calls of `inner`."""

    def __init__(self, inner: Backend, *, max_wait: float = 0.05) -> None:
        self.inner = inner
        self.max_wait = max_wait  # longest a submitted call waits for the other clients (seconds)
        self._cond = threading.Condition()
        self._pending: list[_Job] = []
        self._active = 0  # clients inside a search
        self._dispatching = False
        self.merged_calls = 0  # inner calls that served more than one client

    def client(self) -> "SharedClient":
        return SharedClient(self)

    def _enter(self) -> None:
        with self._cond:
            self._active += 1

    def _leave(self) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def _submit(self, requests: Sequence[GenerationRequest]) -> _Job:
        job = _Job(requests)
        with self._cond:
            self._pending.append(job)
            self._cond.notify_all()
            deadline = time.monotonic() + self.max_wait
            waited_out = False  # another call ran while this one waited
            while not job.done.is_set():
                if self._dispatching:
                    waited_out = True
                else:
                    if waited_out:  # that call's clients come back in a moment: wait for them again
                        deadline, waited_out = time.monotonic() + self.max_wait, False
                    if len(self._pending) >= self._active or time.monotonic() >= deadline:
                        batch, self._pending = self._pending, []
                        self._dispatching = True
                        break
                self._cond.wait(timeout=max(0.0, min(self.max_wait, deadline - time.monotonic())) or self.max_wait)
            else:
                return job
        try:
            self._run(batch)
        finally:
            with self._cond:
                self._dispatching = False
                self._cond.notify_all()
        job.done.wait()
        return job

    def _run(self, batch: list[_Job]) -> None:
        merged = [r for job in batch for r in job.requests]
        try:
            results = self.inner.generate(merged)
            call = self.inner.last_usage  # this thread's call, exact
        except BaseException as e:  # every waiting client gets the failure, none hangs
            for job in batch:
                job.error = e
                job.done.set()
            return
        if len(batch) > 1:
            self.merged_calls += 1
            for job in batch:
                job.merged = True
        usages, at = [], 0
        for job in batch:
            mine = results[at : at + len(job.requests)]
            at += len(job.requests)
            u = Usage.of_call(job.requests, mine)
            job.results = list(mine)
            usages.append(u)
        total = sum(u.prompt_tokens + u.generated_tokens for u in usages) or 1
        for job, u in zip(batch, usages):
            # model seconds of the merged call, split by each client's tokens
            u.decode_seconds = call.decode_seconds * (u.prompt_tokens + u.generated_tokens) / total
            job.usage = u
            job.done.set()


class SharedClient(BackendWrapper):
    """One search's view of a `SharedBackend`; use it as a context manager around the search."""

    def __init__(self, shared: SharedBackend) -> None:
        super().__init__(shared.inner, label="shared")
        self._shared = shared
        self._usage = Usage()
        self._last = Usage()
        self.merged_calls = 0  # this client's calls that ran in one engine call with another client's

    @property
    def usage(self) -> Usage:
        return self._usage

    @property
    def last_usage(self) -> Usage:
        return self._last

    def count_tokens(self, messages: Sequence[Message], assistant_prefix: str = "") -> int:
        with self._shared._cond:  # the engine is not thread-safe; tokenizing is quick
            return self._shared.inner.count_tokens(messages, assistant_prefix)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        t0 = time.perf_counter()
        job = self._shared._submit(requests)
        if job.error is not None:
            raise job.error
        assert job.results is not None and job.usage is not None
        job.usage.wall_seconds = time.perf_counter() - t0
        self._usage.add(job.usage)
        self._last = job.usage
        self.merged_calls += job.merged
        return job.results

    def close(self) -> None:
        """Nothing: the engine is shared; its owner closes it."""

    def __enter__(self) -> "SharedClient":
        self._shared._enter()
        return self

    def __exit__(self, *exc) -> None:
        self._shared._leave()
