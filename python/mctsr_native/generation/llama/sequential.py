"""The baseline: one request at a time through llama-cpp-python's high-level `Llama.create_chat_completion`.

Every sample is a separate call and the KV memory is reset before each, so no prompt prefix is reused:
this is how the reference implementation talks to its model, and what our benchmarks compare against.
"""

from __future__ import annotations

import os
import time
from typing import Any, Sequence

import numpy as np
from llama_cpp import Llama

from ... import hardware
from ...errors import ContextOverflowError, MctsrError
from ...models import resolve_model
from ..base import (BackendBase, Completion, GenerationRequest, GenerationResult, Message, Usage, failed_result,
                    sample_seed)
from . import native
from .build import build_info


class GuardedLlama(Llama):
    """llama-cpp-python's `Llama`, loaded with a `hardware.LoadGuard` applied to its model parameters.

    `Llama.__init__` takes no argument for `use_extra_bufts`: it assigns `self.model_params` (llama.cpp's
    defaults), sets its own fields on that struct, then loads with it. This subclass intercepts that one
    assignment, so the guard is on the struct the load uses, and nothing global is patched.
    """

    def __init__(self, *args: Any, load_guard: hardware.LoadGuard | None = None, **kwargs: Any) -> None:
        self.load_guard = load_guard or hardware.load_guard(build=build_info())
        super().__init__(*args, **kwargs)

    @property
    def model_params(self) -> Any:
        return self.__dict__["model_params"]

    @model_params.setter
    def model_params(self, params: Any) -> None:
        self.load_guard.apply(params)
        self.__dict__["model_params"] = params


class SequentialLlamaBackend(BackendBase):
    supports_grammar = True
    thread_safe = False

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        n_ctx: int = 8192,
        n_gpu_layers: int = 0,
        n_threads: int | None = None,
        seed: int = 0,
        flash_attn: str = "auto",
    ) -> None:
        native.backend_init()  # routes llama.cpp's log through our quiet callback
        self.model_path = resolve_model(model)
        self.name = f"llama-cpp-python high-level (sequential):{self.model_path.name}"
        super().__init__(seed)
        self.load_guard = hardware.load_guard(build=build_info())
        self.llm = GuardedLlama(
            load_guard=self.load_guard,
            model_path=str(self.model_path),
            n_ctx=n_ctx,
            n_gpu_layers=n_gpu_layers,
            n_threads=n_threads or os.cpu_count() or 1,
            seed=seed,
            flash_attn=flash_attn == "on",
            verbose=False,
        )

    @property
    def context_size(self) -> int:
        return int(self.llm.n_ctx())

    def count_tokens(self, messages: Sequence[Message], assistant_prefix: str = "") -> int:
        # Same rendering as the batched engine would use is not needed for a baseline; approximate by
        # tokenizing the concatenated contents (the engine's exact count is in LlamaBackend).
        text = "\n".join(m.content for m in messages) + assistant_prefix
        with self._calls.call():  # not while close() frees the model
            return len(self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)) + 8 * len(messages)

    def _generate(self, requests: list[GenerationRequest], call: Usage) -> list[GenerationResult]:
        from llama_cpp import LlamaGrammar

        results: list[GenerationResult] = []
        for req in requests:
            try:
                req.validate()
            except MctsrError as e:
                results.append(failed_result(req, e))
                continue
            p = req.params
            grammar = LlamaGrammar.from_string(p.grammar, verbose=False) if p.grammar else None
            completions, prompt_len = [], 0
            seed = self.seed_of(req)
            for j in range(req.n):
                self._calls.stop_if_closing()  # close() waits for this call: stop before the next completion
                self.llm.reset()  # no prefix reuse: every call evaluates its whole prompt
                messages = [{"role": m.role, "content": m.content} for m in req.messages]
                t = time.perf_counter()
                try:
                    out = self.llm.create_chat_completion(
                        messages=messages,
                        max_tokens=p.max_tokens,
                        temperature=p.temperature,
                        top_p=p.top_p,
                        top_k=p.top_k,
                        min_p=p.min_p,
                        stop=list(p.stop) or None,
                        seed=sample_seed(seed, j),
                        grammar=grammar,
                        logits_processor=self._no_eog_before(p.min_tokens),
                    )
                except ValueError as e:  # llama-cpp-python reports context overflow as ValueError
                    results.append(failed_result(req, ContextOverflowError(str(e))))
                    break
                call.decode_seconds += time.perf_counter() - t
                choice = out["choices"][0]
                prompt_len = out["usage"]["prompt_tokens"]
                n_gen = out["usage"]["completion_tokens"]
                completions.append(
                    Completion(
                        text=choice["message"]["content"] or "",
                        finish_reason="length" if choice["finish_reason"] == "length" else "stop",
                        generated_tokens=n_gen,
                    )
                )
            else:
                results.append(
                    GenerationResult(
                        completions=tuple(completions),
                        prompt_tokens=prompt_len,
                        evaluated_prompt_tokens=prompt_len * req.n,
                        reused_prompt_tokens=0,
                    )
                )
        return results

    def _no_eog_before(self, min_tokens: int):
        """SamplingParams.min_tokens for the high-level API: a logits processor that sets every
        end-of-generation token to -inf while fewer than `min_tokens` tokens follow the prompt."""
        if min_tokens <= 0:
            return None
        from llama_cpp import LogitsProcessorList

        import llama_cpp as L

        if getattr(self, "_eog", None) is None:
            vocab = L.llama_model_get_vocab(self.llm.model)
            self._eog = [t for t in range(self.llm.n_vocab()) if L.llama_vocab_is_eog(vocab, t)]
        eog = self._eog
        start: list[int | None] = [None]

        def mask(input_ids, scores):
            if start[0] is None:
                start[0] = len(input_ids)  # the first call sees the prompt alone
            if len(input_ids) - start[0] < min_tokens:
                scores[eog] = -np.inf
            return scores

        return LogitsProcessorList([mask])

    def close(self) -> None:
        if not self._quiesce():  # a call on another thread is still in the model: never free it under that call
            return
        if getattr(self, "llm", None) is not None:
            self.llm.close()
            self.llm = None
