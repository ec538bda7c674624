"""Record and replay model traffic, so a seeded search can be stored and re-run without the model.

`RecordingBackend(inner, path)` passes every call through to `inner` and appends to a JSONL file:

    {"type": "meta", "version": 1, "name": ..., "context_size": ..., "supports_grammar": ...}   (first line)
    {"type": "count", "messages": [...], "assistant_prefix": "...", "tokens": N}                  (once per prompt)
    {"type": "generate", "request": {...}, "result": {...}}                                       (one per request)

`ReplayBackend(path)` answers the same calls from the file: a request is keyed by its full content (messages,
sampling parameters including the seed and grammar, n, kind, assistant prefix) and by its occurrence (the
i-th identical request gets the i-th recorded reply). A request or token count that is not in the recording
raises `ReplayMismatchError`, naming the call kind and the first differing prompt text it can find. Replayed
usage counts the recorded tokens; its seconds are the replay's own (near zero).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from ..errors import BackendError
from .base import (Backend, BackendWrapper, Completion, GenerationRequest, GenerationResult, Message, SamplingParams,
                   Usage)

__all__ = ["RecordingBackend", "ReplayBackend", "ReplayMismatchError", "request_key"]

FORMAT_VERSION = 1


class ReplayMismatchError(BackendError):
    """A replayed run asked for something the recording does not hold."""


def _messages(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def request_to_dict(r: GenerationRequest) -> dict[str, Any]:
    params = dataclasses.asdict(r.params)
    params["stop"] = list(params["stop"])
    return {"messages": _messages(r.messages), "params": params, "n": r.n, "kind": r.kind,
            "assistant_prefix": r.assistant_prefix}


def _default_params() -> dict[str, Any]:
    d = dataclasses.asdict(SamplingParams())
    d["stop"] = list(d["stop"])
    return d


def request_key(r: GenerationRequest | dict[str, Any]) -> str:
    """The canonical identity of a request: its full content as sorted JSON, sampling parameters at their
    defaults left out (so a recording stays valid when a new sampling option with a neutral default appears)."""
    d = request_to_dict(r) if isinstance(r, GenerationRequest) else dict(r)
    defaults = _default_params()
    same = lambda k, v: k in defaults and json.dumps(defaults[k]) == json.dumps(v)  # noqa: E731 (tuple == list)
    d["params"] = {k: v for k, v in (d.get("params") or {}).items() if not same(k, v)}
    return json.dumps(d, sort_keys=True, ensure_ascii=False)


def _count_key(messages: Sequence[Message] | list[dict], assistant_prefix: str) -> str:
    msgs = messages if messages and isinstance(messages[0], dict) else _messages(messages)  # type: ignore[arg-type]
    return json.dumps({"messages": msgs, "assistant_prefix": assistant_prefix}, sort_keys=True, ensure_ascii=False)


def result_to_dict(res: GenerationResult) -> dict[str, Any]:
    return {
        "completions": [dataclasses.asdict(c) for c in res.completions],
        "prompt_tokens": res.prompt_tokens,
        "evaluated_prompt_tokens": res.evaluated_prompt_tokens,
        "reused_prompt_tokens": res.reused_prompt_tokens,
    }


def result_from_dict(d: dict[str, Any]) -> GenerationResult:
    return GenerationResult(
        completions=tuple(Completion(**c) for c in d["completions"]),
        prompt_tokens=d["prompt_tokens"],
        evaluated_prompt_tokens=d["evaluated_prompt_tokens"],
        reused_prompt_tokens=d["reused_prompt_tokens"],
    )


class RecordingBackend(BackendWrapper):
    """Wraps a backend and writes every request and reply to a JSONL file (truncated on open). Not thread-safe:
    the recording is one ordered file."""

    def __init__(self, inner: Backend, path: str | Path) -> None:
        super().__init__(inner, label="record")
        self.path = Path(path)
        self._counted: set[str] = set()
        self._file = self.path.open("w", encoding="utf-8")
        self._write({"type": "meta", "version": FORMAT_VERSION, "name": inner.name,
                     "context_size": inner.context_size, "supports_grammar": inner.supports_grammar})

    def _write(self, obj: dict[str, Any]) -> None:
        self._file.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._file.flush()

    def count_tokens(self, messages: Sequence[Message], assistant_prefix: str = "") -> int:
        n = self.inner.count_tokens(messages, assistant_prefix)
        key = _count_key(messages, assistant_prefix)
        if key not in self._counted:
            self._counted.add(key)
            self._write({"type": "count", "messages": _messages(messages), "assistant_prefix": assistant_prefix,
                         "tokens": n})
        return n

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        results = self.inner.generate(requests)
        for r, res in zip(requests, results):
            self._write({"type": "generate", "request": request_to_dict(r), "result": result_to_dict(res)})
        return results

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.inner.close()


class ReplayBackend:
    """Answers generate / count_tokens calls from a recording (module doc)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._replies: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._seen: dict[str, int] = defaultdict(int)
        self._counts: dict[str, int] = {}
        meta = None
        with self.path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    kind = obj["type"]
                    if kind == "meta":
                        meta = obj
                    elif kind == "count":
                        self._counts[_count_key(obj["messages"], obj["assistant_prefix"])] = int(obj["tokens"])
                    elif kind == "generate":
                        self._replies[request_key(obj["request"])].append(obj["result"])
                except (ValueError, KeyError, TypeError) as e:
                    raise ReplayMismatchError(f"{self.path}:{lineno}: not a recording line ({e})") from None
        if meta is None or meta.get("version") != FORMAT_VERSION:
            raise ReplayMismatchError(f"{self.path}: no version-{FORMAT_VERSION} meta line; not a recording")
        self.name = f"replay:{meta['name']}"
        self.thread_safe = False  # replies are matched in recorded order
        self.merged_calls = 0
        self.supports_grammar = bool(meta["supports_grammar"])
        self._context = int(meta["context_size"])
        self.usage = Usage()
        self.last_usage = Usage()

    @property
    def context_size(self) -> int:
        return self._context

    def count_tokens(self, messages: Sequence[Message], assistant_prefix: str = "") -> int:
        try:
            return self._counts[_count_key(messages, assistant_prefix)]
        except KeyError:
            raise ReplayMismatchError(
                f"{self.path}: the recording never counted this prompt (user text starts "
                f"{messages[-1].content[:80]!r}); the run differs from the recorded one"
            ) from None

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        t = time.perf_counter()
        out = []
        u = Usage(calls=1)
        for r in requests:
            key = request_key(r)
            occurrence = self._seen[key]
            recorded = self._replies.get(key, [])
            if occurrence >= len(recorded):
                raise ReplayMismatchError(
                    f"{self.path}: {r.kind} request #{occurrence + 1} of this content is not in the recording "
                    f"({len(recorded)} recorded; seed {r.params.seed}, user text starts "
                    f"{r.messages[-1].content[:80]!r}); the run differs from the recorded one"
                )
            self._seen[key] += 1
            res = result_from_dict(recorded[occurrence])
            u.count(r, res)
            out.append(res)
        u.wall_seconds = time.perf_counter() - t
        self.usage.add(u)
        self.last_usage = u
        return out

    def close(self) -> None:
        pass
