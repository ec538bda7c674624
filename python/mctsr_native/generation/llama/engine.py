"""The in-process llama.cpp backend: many sequences in one `llama_batch`, with shared-prefix KV reuse.

One `generate()` call decodes every sampled completion of every request together: each step feeds one
token per live sequence (plus pending prompt tokens, up to `n_batch`) to a single `llama_decode`, then
each sequence draws its next token with its own native sampler chain (`llama_sampler_sample`, so no
logits are copied into Python). Prompts reuse evaluated prefixes from `PrefixCache`; the `n` samples of
one request fork from its evaluated prompt. Requests that would not fit run in later waves.
"""

from __future__ import annotations

import codecs
import collections
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import numpy as np

from ...capacity import Capacity
from ...errors import (BackendError, ContextOverflowError, EngineClosedError, InvalidConfigError, InvalidRequestError,
                       MctsrError)
from ...models import resolve_model
from ..base import (BackendBase, Completion, GenerationRequest, GenerationResult, Message, Usage, failed_result,
                    sample_seed)
from . import native
from .chat import prompt_tokens, renderer_for
from .prefix_cache import PrefixCache, common_prefix


_INT32_MAX = 2**31 - 1  # llama.cpp's int32 / uint32 parameters: a larger value would wrap silently
MAX_THREADS = 512  # GGML_MAX_N_THREADS: more threads abort the process (std::bad_alloc) in ggml's thread pool
MAX_SEQ_SLOTS = 256  # LLAMA_MAX_SEQ: the sequence ids one llama.cpp context holds


@dataclass(frozen=True, kw_only=True)
class LlamaOptions:
    """How the model is loaded and batched."""

    n_ctx: int = 8192  # KV cells shared by all sequences; one sequence may use up to min(n_ctx, trained context)
    n_gpu_layers: int = 0  # layers offloaded to the GPU (-1 = all); needs llama-cpp-python built with CUDA
    n_threads: int | None = None  # CPU threads (None = all cores)
    n_batch: int = 512  # most tokens in one llama_decode call
    seed: int = 0  # base seed; requests without a seed get one derived from it and the call count
    flash_attn: Literal["auto", "on", "off"] = "auto"  # FlashAttention: "auto" (where the backend has it), "on", "off"
    max_sequences: int = 16  # sequences decoded together in one wave
    prefix_cache: bool = True  # reuse evaluated prompt prefixes across and within calls
    max_cached_prefixes: int = 8  # prefixes kept in KV memory between calls (least recently used go first)
    min_shared_prefix: int = 16  # shortest common prefix of a wave's prompts worth evaluating once up front
    chat_template: str | None = None  # None: the GGUF's own (or its family's); "plain"; or a Jinja template
    sampling_threads: int | None = None  # threads drawing the sequences of a step (None = min(cores, 8); 1 = none)

    def validate(self) -> None:
        for name, low, high in (("n_ctx", 64, _INT32_MAX), ("n_gpu_layers", -1, _INT32_MAX),
                                ("n_threads", 1, MAX_THREADS), ("n_batch", 8, _INT32_MAX),
                                ("max_sequences", 1, MAX_SEQ_SLOTS - 1), ("max_cached_prefixes", 0, MAX_SEQ_SLOTS - 2),
                                ("min_shared_prefix", 1, _INT32_MAX), ("sampling_threads", 1, MAX_THREADS)):
            value = getattr(self, name)  # these cross into llama.cpp as 32-bit integers: range-check them here
            if value is None and name in ("n_threads", "sampling_threads"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                why = {"n_threads": " (ggml runs at most 512 threads)",
                       "sampling_threads": " (ggml runs at most 512 threads)",
                       "max_sequences": f" (llama.cpp holds {MAX_SEQ_SLOTS} sequences in one context)"}.get(name, "")
                raise InvalidConfigError(f"{name} must be an integer in [{low}, {high}]{why}, got {value!r:.60}")
        slots = self.max_sequences + self.max_cached_prefixes + 1
        if slots > MAX_SEQ_SLOTS:
            raise InvalidConfigError(
                f"max_sequences={self.max_sequences} + max_cached_prefixes={self.max_cached_prefixes} + 1 = {slots} "
                f"sequence slots, but llama.cpp holds at most {MAX_SEQ_SLOTS} in one context: lower max_sequences "
                f"(at most {MAX_SEQ_SLOTS - 1 - self.max_cached_prefixes} with these cached prefixes)")
        if not (isinstance(self.flash_attn, str) and self.flash_attn in native.FLASH_ATTN):
            raise InvalidConfigError(f"flash_attn must be auto, on or off, got {self.flash_attn!r:.60}")


_TOKENIZED_KEPT = 64  # prompts whose tokens count_tokens keeps for generate


def engine_capacity(options: Mapping[str, Any]) -> Capacity:
    """The in-process engine's capacity from its options, before the model loads (a model trained on a
    shorter context than n_ctx lowers `context_tokens` once loaded: the search checks it again then)."""
    o = LlamaOptions(**{k: v for k, v in options.items() if k in LlamaOptions.__dataclass_fields__})
    o.validate()
    return Capacity(context_tokens=o.n_ctx, kv_cells=o.n_ctx, max_sequences=o.max_sequences,
                    where="the engine")


class _Seq:
    """One sampled completion being decoded."""

    __slots__ = (
        "seq", "req", "sampler", "todo", "fed", "pos", "pending", "n_gen", "chunks", "utf8",
        "stops", "keep", "tail", "max_tokens", "finish", "error", "forks", "logprobs",
    )

    def __init__(self, seq: int, req: int, sampler: native.Sampler, todo, pos: int, stops, max_tokens: int):
        self.seq = seq
        self.req = req  # index of the request in the call
        self.sampler = sampler
        self.todo = todo  # prompt tokens still to evaluate (None for a fork that waits for its parent)
        self.fed = 0  # how many of `todo` are evaluated
        self.pos = pos  # position of the next token fed
        self.pending = -1  # sampled token to feed next
        self.n_gen = 0
        self.chunks: list[str] = []
        self.utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.stops = stops
        self.keep = max(map(len, stops), default=1) - 1  # characters a stop string can reach back into
        self.tail = ""  # the last `keep` characters of the text
        self.max_tokens = max_tokens
        self.finish: str | None = None
        self.error: str | None = None
        self.forks: list[_Seq] = []
        self.logprobs: tuple[float | None, ...] = ()  # SamplingParams.logprobs_of, read at the first token

    def text(self) -> str:
        return "".join(self.chunks) + self.utf8.decode(b"", final=True)


class LlamaBackend(BackendBase):
    """Batched multi-sequence generation on one llama.cpp context."""

    supports_grammar = True
    thread_safe = False  # one llama.cpp context; concurrent searches go through generation.shared

    def __init__(self, model: str | os.PathLike | None = None, options: LlamaOptions | None = None, **kw) -> None:
        options = options or LlamaOptions(**kw)
        options.validate()
        super().__init__(options.seed)
        self.options = options
        self.model_path: Path = resolve_model(model)
        self.name = f"llama.cpp:{self.model_path.name}"
        self.model = native.Model(self.model_path, n_gpu_layers=options.n_gpu_layers)
        try:
            slots = options.max_sequences + options.max_cached_prefixes + 1
            self.ctx = native.Context(
                self.model,
                n_ctx=options.n_ctx,
                n_batch=options.n_batch,
                n_seq_max=slots,
                n_threads=options.n_threads or os.cpu_count() or 1,
                flash_attn=options.flash_attn,
            )
        except BaseException:
            self.model.close()
            raise
        self.renderer = renderer_for(self.model, options.chat_template)
        self.batch = native.Batch(self.ctx.n_batch)
        self.cache = PrefixCache(options.max_cached_prefixes)
        self._free = list(range(self.ctx.n_seq_max - 1, -1, -1))
        threads = options.sampling_threads or min(os.cpu_count() or 1, 8)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="mctsr-sample") if threads > 1 else None
        self._good_grammars: set[str] = set()
        # prompts tokenized by count_tokens, kept so that generating them does not tokenize them again
        self._tokenized: collections.OrderedDict[tuple, np.ndarray] = collections.OrderedDict()

    # ----- the Backend interface -------------------------------------------------------------------

    @property
    def context_size(self) -> int:
        return min(self.ctx.n_ctx, self.model.n_ctx_train or self.ctx.n_ctx)

    def render(self, messages: Sequence[Message], assistant_prefix: str = "") -> str:
        return self.renderer.render(messages, assistant_prefix)

    def tokenize_prompt(self, messages: Sequence[Message], assistant_prefix: str = "") -> np.ndarray:
        """The prompt's tokens (remembered for the last `_TOKENIZED_KEPT` prompts)."""
        key = (tuple(messages), assistant_prefix)
        tokens = self._tokenized.get(key)
        if tokens is None:
            tokens = np.asarray(prompt_tokens(self.model, self.renderer, messages, assistant_prefix), dtype=np.int32)
            self._tokenized[key] = tokens
            if len(self._tokenized) > _TOKENIZED_KEPT:
                self._tokenized.popitem(last=False)
        else:
            self._tokenized.move_to_end(key)
        return tokens

    def count_tokens(self, messages: Sequence[Message], assistant_prefix: str = "") -> int:
        with self._calls.call():  # it reads the model's vocabulary: not while close() frees it
            return len(self.tokenize_prompt(messages, assistant_prefix))

    def _generate(self, requests: list[GenerationRequest], call: Usage) -> list[GenerationResult]:
        results: list[GenerationResult | None] = [None] * len(requests)
        ready: list[tuple[int, GenerationRequest, np.ndarray]] = []
        for i, req in enumerate(requests):
            try:
                ready.append((i, req, self._prepare(req)))
            except MctsrError as e:
                results[i] = failed_result(req, e)
        for wave in self._plan_waves(ready):
            self._run_wave(wave, results, call)
        return results  # type: ignore[return-value]

    def reset_cache(self) -> None:
        """Forget every cached prefix (frees their KV cells)."""
        while (e := self.cache.pop_lru()) is not None:
            self._release(e.seq)

    def close(self) -> None:
        if not self._quiesce():  # a call on another thread is still in the context: never free it under that call
            return
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown()
            self._pool = None
        if getattr(self, "ctx", None) is not None:
            self.ctx.close()
            self.ctx = None
        if getattr(self, "model", None) is not None:
            self.model.close()
            self.model = None

    def __enter__(self) -> "LlamaBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # ----- planning ----------------------------------------------------------------------------------

    @property
    def capacity(self) -> Capacity:
        """What one search's options must fit (capacity.check_fits): the context, the KV cells, the sequences."""
        return Capacity(context_tokens=self.context_size, kv_cells=self.ctx.n_ctx,
                        max_sequences=self.options.max_sequences, where="the engine")

    def _prepare(self, req: GenerationRequest) -> np.ndarray:
        req.validate()
        if req.n > self.options.max_sequences:  # refused before any slot is taken: a wave holds no more
            raise InvalidRequestError(
                f"n={req.n} samples of one prompt are decoded together, but the engine decodes at most "
                f"max_sequences={self.options.max_sequences} sequences at once: ask for fewer samples "
                "(reward_samples, reselect_samples) or load the model with a larger max_sequences")
        tokens = self.tokenize_prompt(req.messages, req.assistant_prefix)
        need = len(tokens) + req.params.max_tokens
        if need > self.context_size:
            raise ContextOverflowError(
                f"the prompt has {len(tokens)} tokens and asks for up to {req.params.max_tokens} more, "
                f"{need} in all, but the context holds {self.context_size}: shorten the prompt, lower "
                "max_tokens, or load the model with a larger n_ctx"
            )
        grammar = req.params.grammar
        if grammar is not None and grammar not in self._good_grammars:
            native.check_grammar(self.model, grammar)
            self._good_grammars.add(grammar)
        return tokens

    def _cells_needed(self, req: GenerationRequest, tokens: np.ndarray) -> int:
        if self.options.prefix_cache:
            return len(tokens) + req.n * req.params.max_tokens
        return req.n * (len(tokens) + req.params.max_tokens)

    def _plan_waves(self, ready):
        """Group requests so that each wave fits the sequence slots and the KV cells."""
        waves, wave, seqs, cells = [], [], 0, 0
        for item in ready:
            _, req, tokens = item
            need = self._cells_needed(req, tokens)
            if wave and (seqs + req.n > self.options.max_sequences or cells + need > self.ctx.n_ctx):
                waves.append(wave)
                wave, seqs, cells = [], 0, 0
            wave.append(item)
            seqs += req.n
            cells += need
        if wave:
            waves.append(wave)
        return waves

    # ----- sequence slots ------------------------------------------------------------------------------

    def _take_slot(self) -> int:
        if not self._free:
            e = self.cache.pop_lru()
            if e is None:
                raise BackendError("no free sequence slot (internal: wave larger than max_sequences)")
            self._release(e.seq)
        return self._free.pop()

    def _release(self, seq: int) -> None:
        self.ctx.seq_rm(seq, -1, -1)
        self._free.append(seq)

    def _make_room(self, cells: int) -> None:
        """Evict cached prefixes (least recently used first) until `cells` more should fit."""
        while len(self.cache) and self.cache.cells() + cells > self.ctx.n_ctx:
            self._release(self.cache.pop_lru().seq)

    def _sampler(self, req: GenerationRequest, seed: int, sample: int) -> native.Sampler:
        p = req.params
        return native.Sampler(
            self.model,
            temperature=p.temperature,
            top_k=p.top_k,
            top_p=p.top_p,
            min_p=p.min_p,
            seed=sample_seed(seed, sample),
            grammar=p.grammar,
            min_tokens=p.min_tokens,
        )

    # ----- one wave ------------------------------------------------------------------------------------

    def _run_wave(self, wave, results, call: Usage) -> None:
        reuse = self.options.prefix_cache and self.cache.capacity > 0
        self._make_room(sum(self._cells_needed(req, tok) for _, req, tok in wave))
        evaluated = {i: 0 for i, _, _ in wave}
        if reuse and len(wave) >= 2:
            evaluated[wave[0][0]] += self._share_wave_prefix([tok for _, _, tok in wave], call)
        seqs: list[_Seq] = []
        mains: list[tuple[_Seq, np.ndarray]] = []
        taken: list[int] = []  # every slot this wave took: all go back if the wave fails (issue 22)
        try:
            for i, req, tokens in wave:
                seed = self.seed_of(req)
                start = 0
                src = None
                if reuse:
                    src, start = self.cache.longest_match(tokens)
                    start = min(start, len(tokens) - 1)
                copies = 1 if reuse else req.n
                for j in range(copies):
                    seq = self._take_slot()
                    taken.append(seq)
                    if src is not None and start > 0:
                        self.ctx.seq_cp(src.seq, seq, 0, start)
                    s = _Seq(seq, i, self._sampler(req, seed, j), tokens[start:], start, req.params.stop, req.params.max_tokens)
                    seqs.append(s)
                    if j == 0:
                        mains.append((s, tokens))
                if reuse:
                    main = seqs[-1]
                    for j in range(1, req.n):
                        slot = self._take_slot()
                        taken.append(slot)
                        fork = _Seq(slot, i, self._sampler(req, seed, j), None, len(tokens), req.params.stop, req.params.max_tokens)
                        main.forks.append(fork)
                        seqs.append(fork)
            want = {i: req.params.logprobs_of for i, req, _ in wave if req.params.logprobs_of}
            self._decode_all([s for s in seqs if s.todo is not None], evaluated, call, want)
        except BaseException:
            for seq in taken:  # a failed wave leaves no slot taken and no KV cell filled behind it
                self._release(seq)
            raise
        finally:
            for s in seqs:
                s.sampler.close()
        for i, req, tokens in wave:
            mine = [s for s in seqs if s.req == i]
            results[i] = GenerationResult(
                completions=tuple(
                    Completion(text=s.text(), finish_reason=s.finish or "error", generated_tokens=s.n_gen,
                               error=s.error, candidate_logprobs=s.logprobs)
                    for s in mine
                ),
                prompt_tokens=len(tokens),
                evaluated_prompt_tokens=evaluated[i],
                reused_prompt_tokens=max(0, req.n * len(tokens) - evaluated[i]),
            )
        self._keep_prompts(mains, seqs, reuse)

    def _share_wave_prefix(self, prompts: list[np.ndarray], call: Usage) -> int:
        """Evaluate the wave's common prompt prefix once, as a cached entry; returns tokens evaluated."""
        shared = prompts[0][: min(len(p) for p in prompts) - 1]
        for p in prompts[1:]:
            shared = shared[: common_prefix(shared, p)]
        src, have = self.cache.longest_match(shared)
        if len(shared) - have < self.options.min_shared_prefix:
            return 0
        seq = self._take_slot()
        try:
            if src is not None and have > 0:
                self.ctx.seq_cp(src.seq, seq, 0, have)
            todo = shared[have:]
            pos = have
            while len(todo):
                take = todo[: self.ctx.n_batch]
                self.batch.clear()
                self.batch.add(take, pos, seq, want_last_logits=False)
                self._decode(call)
                pos += len(take)
                todo = todo[len(take):]
        except BaseException:
            self._release(seq)  # not cached yet: nothing else would ever free it
            raise
        while len(self.cache) >= self.cache.capacity:
            self._release(self.cache.pop_lru().seq)
        self.cache.add(seq, shared.copy())
        return len(shared) - have

    def _keep_prompts(self, mains, seqs: list[_Seq], reuse: bool) -> None:
        """Keep each request's evaluated prompt as a cached prefix; free everything else."""
        kept = set()
        if reuse:
            for s, tokens in mains:
                if self.cache.find_exact(tokens) is not None:
                    continue
                while len(self.cache) >= self.cache.capacity:
                    self._release(self.cache.pop_lru().seq)
                self.ctx.seq_rm(s.seq, len(tokens), -1)
                self.cache.add(s.seq, tokens)
                kept.add(s.seq)
        for s in seqs:
            if s.seq not in kept:
                self._release(s.seq)

    def _decode(self, call: Usage) -> None:
        """One llama_decode of the current batch; makes room in the KV memory when it is full."""
        while True:
            self._calls.stop_if_closing()  # close() waits for this call: stop at this step, before the next decode
            t = time.perf_counter()
            ret = self.ctx.decode(self.batch)
            call.decode_seconds += time.perf_counter() - t
            if ret == 0:
                return
            if ret == 1 and len(self.cache):
                self._release(self.cache.pop_lru().seq)
                continue
            raise BackendError(
                f"llama_decode failed ({ret}): {native.log_tail(3) or 'no KV room'}; "
                "load the model with a larger n_ctx or ask for fewer tokens per call"
            )

    def _candidate_logprobs(self, idx: int, texts: tuple[str, ...]) -> tuple[float | None, ...]:
        """Log-softmax of the logits at batch output `idx`, at the first token of each text."""
        logits = self.ctx.logits(idx, self.model.n_vocab).astype(np.float64)
        top = logits.max()
        log_z = top + np.log(np.exp(logits - top).sum())
        out: list[float | None] = []
        for text in texts:
            ids = self.model.tokenize(text, add_special=False, parse_special=False)
            out.append(float(logits[ids[0]] - log_z) if ids else None)
        return tuple(out)

    def _decode_all(self, prompted: list[_Seq], evaluated: dict[int, int], call: Usage,
                    requests_want: dict[int, tuple[str, ...]] | None = None) -> None:
        queue = list(prompted)
        live: list[_Seq] = []
        cap = self.ctx.n_batch
        while queue or live:
            b = self.batch
            b.clear()
            feed: list[tuple[_Seq, int]] = []
            for s in live:
                feed.append((s, b.add_one(s.pending, s.pos, s.seq)))
                s.pos += 1
            while queue and b.n < cap:
                s = queue[0]
                take = min(cap - b.n, len(s.todo) - s.fed)
                last = s.fed + take == len(s.todo)
                idx = b.add(s.todo[s.fed : s.fed + take], s.pos, s.seq, want_last_logits=last)
                s.fed += take
                s.pos += take
                evaluated[s.req] += take
                if last:
                    feed.append((s, idx))
                    queue.pop(0)
            try:
                self._decode(call)
            except EngineClosedError:
                raise
            except BackendError as e:  # no room in the KV memory: the longest sequence gives way
                self._fail_longest(live, str(e))
                live = [s for s in live if s.finish is None]
                continue
            # Draw every sequence's token (forks of a just-evaluated prompt first, from its logits), in parallel
            # threads; then take them one by one in the same order, so the outputs do not depend on the threads.
            order: list[_Seq] = []
            draws: list[tuple[native.Sampler, int]] = []
            for s, idx in feed:
                want = requests_want.get(s.req) if requests_want and s.n_gen == 0 else None
                if want:  # the one probability hook: candidate tokens at the first generated position
                    s.logprobs = self._candidate_logprobs(idx, want)
                for f in s.forks:
                    f.logprobs = s.logprobs
                    self.ctx.seq_cp(s.seq, f.seq, -1, -1)
                order += [*s.forks, s]
                draws += [(x.sampler, idx) for x in (*s.forks, s)]
            tokens = native.sample_many(self.ctx, draws, self._pool)
            for s, token in zip(order, tokens):
                was_live = s.n_gen > 0
                self._accept(s, token)
                if s.finish is None and not was_live:
                    live.append(s)
                s.forks = []
            live = [s for s in live if s.finish is None]

    def _fail_longest(self, live: list[_Seq], why: str) -> None:
        if not live:
            raise BackendError(why)
        worst = max(live, key=lambda s: s.n_gen)
        worst.finish, worst.error = "error", why

    def _accept(self, s: _Seq, token: int) -> None:
        """Take a sampled token: end of generation, stop string, token cap, or feed it next."""
        s.n_gen += 1
        if self.model.is_eog(token):
            s.finish = "stop"
            return
        chunk = s.utf8.decode(self.model.piece(token))
        if chunk:
            if s.stops:
                window = s.tail + chunk  # a stop string may begin in earlier chunks
                hit = min((k for k in (window.find(x) for x in s.stops) if k >= 0), default=-1)
                if hit >= 0:
                    text = "".join(s.chunks) + chunk
                    s.chunks = [text[: len(text) - (len(window) - hit)]]
                    s.finish = "stop"
                    return
                s.tail = window[-s.keep :] if s.keep else ""
            s.chunks.append(chunk)
        if s.n_gen >= s.max_tokens:
            s.finish = "length"
            return
        s.pending = token
