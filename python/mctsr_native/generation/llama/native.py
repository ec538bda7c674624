"""Thin, owned handles over llama.cpp's C API (through llama-cpp-python's ctypes bindings).

Model, context, vocabulary and batch live here so that the engine reads as the algorithm, not as ctypes.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import llama_cpp as L
import numpy as np

from ... import hardware
from ...errors import BackendError, GrammarError, InvalidModelError
from ...load_order import numpy_first_warning
from .build import build_info
from .runtime import backend_init, log_clear, log_tail

T = TypeVar("T")
R = TypeVar("R")

FLASH_ATTN = {
    "auto": L.LLAMA_FLASH_ATTN_TYPE_AUTO,
    "on": L.LLAMA_FLASH_ATTN_TYPE_ENABLED,
    "off": L.LLAMA_FLASH_ATTN_TYPE_DISABLED,
}


ALL_LAYERS = 0x7FFFFFFF  # n_gpu_layers for "every layer": INT32_MAX, the value llama-cpp-python's Llama passes for -1


def model_params(n_gpu_layers: int, guard: hardware.LoadGuard) -> L.llama_model_params:
    """llama.cpp's default model parameters set as llama-cpp-python's `Llama(model_path, n_gpu_layers=...)` sets
    them (the loader that ran on every GPU tried), plus the load guard:
    - n_gpu_layers -1 ("all") becomes INT32_MAX, as `Llama` maps it, not a literal -1;
    - load_mode MMAP, what `Llama` passes for its defaults (use_mmap=True, use_mlock=False), not llama.cpp's AUTO.
    Every pointer field (devices, tensor_buft_overrides, tensor_split, kv_overrides, progress_callback) stays
    NULL: llama.cpp then uses all devices, its default split and no progress sink, and no Python object has to
    outlive the call. tests/test_model_params.py compares the whole struct with what `Llama` passes."""
    params = L.llama_model_default_params()
    params.n_gpu_layers = ALL_LAYERS if n_gpu_layers < 0 else n_gpu_layers
    params.load_mode = L.LLAMA_LOAD_MODE_MMAP
    guard.apply(params)
    return params


class Model:
    """A loaded GGUF: weights, vocabulary and metadata."""

    def __init__(self, path: Path, *, n_gpu_layers: int) -> None:
        backend_init()
        self.load_guard = hardware.load_guard(build=build_info())
        params = model_params(n_gpu_layers, self.load_guard)
        order = numpy_first_warning(gpu_offload=bool(L.llama_supports_gpu_offload()), n_gpu_layers=n_gpu_layers)
        if order:
            warnings.warn(order, RuntimeWarning, stacklevel=3)
        path_bytes = os.fsencode(path)  # the file system's bytes, any name; alive for the whole call
        log_clear()
        ptr = L.llama_model_load_from_file(path_bytes, params)
        if not ptr:
            raise InvalidModelError(
                f"llama.cpp could not load {path}: {log_tail(4) or 'unknown error'} "
                "(is the file complete and a model architecture this llama.cpp supports?)"
            )
        self.ptr = ptr
        self.path = path
        self.vocab = L.llama_model_get_vocab(ptr)
        self.n_ctx_train = int(L.llama_model_n_ctx_train(ptr))
        self.n_vocab = int(L.llama_vocab_n_tokens(self.vocab))
        self.add_bos = bool(L.llama_vocab_get_add_bos(self.vocab))
        self.bos = int(L.llama_vocab_bos(self.vocab))
        self.eos = int(L.llama_vocab_eos(self.vocab))
        self._eog_ids: np.ndarray | None = None
        self._piece_cache: dict[int, bytes] = {}
        self._eog_cache: dict[int, bool] = {}
        self._piece_buf = ctypes.create_string_buffer(256)

    def meta(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(1 << 16)
        n = L.llama_model_meta_val_str(self.ptr, key.encode(), buf, len(buf))
        if n < 0:
            return None
        if n >= len(buf):
            buf = ctypes.create_string_buffer(n + 1)
            L.llama_model_meta_val_str(self.ptr, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", errors="replace")

    def chat_template(self) -> str | None:
        raw = L.llama_model_chat_template(self.ptr, None)
        return raw.decode("utf-8", errors="replace") if raw else None

    def token_text(self, token: int) -> str:
        return L.llama_vocab_get_text(self.vocab, token).decode("utf-8", errors="replace")

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool = True) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 8
        buf = (L.llama_token * cap)()
        n = L.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special, parse_special)
        if n < 0:
            cap = -n
            buf = (L.llama_token * cap)()
            n = L.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special, parse_special)
        if n < 0:
            raise BackendError(f"llama.cpp failed to tokenize a text of {len(data)} bytes")
        return list(buf[:n])

    def piece(self, token: int) -> bytes:
        """The bytes a token stands for (special tokens render as nothing); cached per token."""
        p = self._piece_cache.get(token)
        if p is None:
            n = L.llama_token_to_piece(self.vocab, token, self._piece_buf, len(self._piece_buf), 0, False)
            if n < 0:
                big = ctypes.create_string_buffer(-n)
                n = L.llama_token_to_piece(self.vocab, token, big, len(big), 0, False)
                p = big.raw[:n]
            else:
                p = self._piece_buf.raw[:n]
            self._piece_cache[token] = p
        return p

    def is_eog(self, token: int) -> bool:
        v = self._eog_cache.get(token)
        if v is None:
            v = self._eog_cache[token] = bool(L.llama_vocab_is_eog(self.vocab, token))
        return v

    def eog_ids(self) -> np.ndarray:
        """Every end-of-generation token of the vocabulary (computed once)."""
        if self._eog_ids is None:
            self._eog_ids = np.array([t for t in range(self.n_vocab) if L.llama_vocab_is_eog(self.vocab, t)],
                                     dtype=np.int32)
        return self._eog_ids

    def close(self) -> None:
        if self.ptr:
            L.llama_model_free(self.ptr)
            self.ptr = None


class Context:
    """A llama.cpp context whose KV memory is one unified pool shared by all sequence ids."""

    def __init__(
        self,
        model: Model,
        *,
        n_ctx: int,
        n_batch: int,
        n_seq_max: int,
        n_threads: int,
        flash_attn: str,
    ) -> None:
        params = L.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = min(n_batch, 512)
        params.n_seq_max = n_seq_max
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.flash_attn_type = FLASH_ATTN[flash_attn]
        params.kv_unified = True  # one cell pool: seq_cp shares cells instead of copying them
        params.no_perf = True
        log_clear()
        ptr = L.llama_init_from_model(model.ptr, params)
        if not ptr:
            raise BackendError(
                f"llama.cpp could not create a context of {n_ctx} tokens: {log_tail(4) or 'unknown error'} "
                "(try a smaller n_ctx or fewer GPU layers)"
            )
        self.ptr = ptr
        self.n_ctx = int(L.llama_n_ctx(ptr))
        self.n_batch = int(L.llama_n_batch(ptr))
        self.n_seq_max = int(L.llama_n_seq_max(ptr))
        self.memory = L.llama_get_memory(ptr)

    def seq_cp(self, src: int, dst: int, p0: int, p1: int) -> None:
        L.llama_memory_seq_cp(self.memory, src, dst, p0, p1)

    def seq_rm(self, seq: int, p0: int = -1, p1: int = -1) -> bool:
        return bool(L.llama_memory_seq_rm(self.memory, seq, p0, p1))

    def decode(self, batch: "Batch") -> int:
        """Run one batch; 0 = ok, 1 = no room in the KV memory, < 0 = error. Waits for the device."""
        ret = int(L.llama_decode(self.ptr, batch.view))
        if ret == 0:
            L.llama_synchronize(self.ptr)
        return ret

    def logits(self, batch_index: int, n_vocab: int) -> np.ndarray:
        """A copy of the next-token logits at one output of the last decode."""
        ptr = L.llama_get_logits_ith(self.ptr, batch_index)
        if not ptr:
            raise BackendError(f"llama.cpp has no logits at batch index {batch_index}: {log_tail(2)}")
        return np.ctypeslib.as_array(ptr, shape=(n_vocab,)).copy()

    def close(self) -> None:
        if self.ptr:
            L.llama_free(self.ptr)
            self.ptr = None


class Batch:
    """A llama_batch whose arrays are numpy buffers owned by Python: filling it is slice assignment."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.token = np.zeros(capacity, dtype=np.int32)
        self.pos = np.zeros(capacity, dtype=np.int32)
        self.n_seq_id = np.ones(capacity, dtype=np.int32)
        self.seq = np.zeros(capacity, dtype=np.int32)
        self.logits = np.zeros(capacity, dtype=np.int8)
        i32p = ctypes.POINTER(ctypes.c_int32)
        base = self.seq.ctypes.data
        self._seq_ptrs = (i32p * capacity)(*[ctypes.cast(base + 4 * i, i32p) for i in range(capacity)])
        self.view = L.llama_batch()
        self.view.embd = None
        self.view.token = self.token.ctypes.data_as(i32p)
        self.view.pos = self.pos.ctypes.data_as(i32p)
        self.view.n_seq_id = self.n_seq_id.ctypes.data_as(i32p)
        self.view.seq_id = ctypes.cast(self._seq_ptrs, ctypes.POINTER(i32p))
        self.view.logits = self.logits.ctypes.data_as(ctypes.POINTER(ctypes.c_int8))
        self.n = 0

    def clear(self) -> None:
        self.n = 0

    def add(self, tokens, start_pos: int, seq: int, want_last_logits: bool) -> int:
        """Append tokens of one sequence; returns the batch index of the last one."""
        k = len(tokens)
        i = self.n
        self.token[i : i + k] = tokens
        self.pos[i : i + k] = np.arange(start_pos, start_pos + k, dtype=np.int32)
        self.seq[i : i + k] = seq
        self.logits[i : i + k] = 0
        if want_last_logits:
            self.logits[i + k - 1] = 1
        self.n = i + k
        self.view.n_tokens = self.n
        return i + k - 1

    def add_one(self, token: int, pos: int, seq: int) -> int:
        i = self.n
        self.token[i] = token
        self.pos[i] = pos
        self.seq[i] = seq
        self.logits[i] = 1
        self.n = i + 1
        self.view.n_tokens = self.n
        return i


_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])  # llama_token_data
_SHORTLIST = 64  # most likely tokens tried first when the grammar rejects a draw


class Sampler:
    """One sequence's native sampler chain (top-k, top-p, min-p, temperature, seeded draw) and an
    optional grammar.

    The grammar is checked, not applied, first: the chain draws a token and the grammar tests just that
    one (llama.cpp's common_sampler strategy: applying a grammar to every candidate on every step costs
    more than the decode of a small model). When the draw is rejected, the grammar is applied to the 64
    most likely tokens and the chain draws among those it allows; the whole vocabulary is tried only when
    it allows none of them. Greedy decoding is exact under this; sampling loses only allowed tokens ranked
    below 64th, which top-k (40 by default) would drop anyway.
    """

    def __init__(
        self,
        model: Model,
        *,
        temperature: float,
        top_k: int,
        top_p: float,
        min_p: float,
        seed: int,
        grammar: str | None,
        min_tokens: int = 0,
    ) -> None:
        params = L.llama_sampler_chain_default_params()
        params.no_perf = True
        self.ptr = L.llama_sampler_chain_init(params)
        self.grammar = compile_grammar(model, grammar) if grammar is not None else None
        self.n_vocab = model.n_vocab
        # Greedy without a grammar is an argmax over the logits, read in place: llama_sampler_sample would first
        # copy the whole vocabulary into a candidate array (most of its cost at Llama-3's 128k tokens). numpy's
        # argmax and llama.cpp's greedy sampler both pick the FIRST highest logit, so the token is the same.
        self.greedy_plain = temperature <= 0.0 and grammar is None
        self.argmax = self.greedy_plain and min_tokens == 0
        # min_tokens: a logit-bias sampler first in the chain sets every end-of-generation token to -inf, and is
        # taken out after `min_tokens` draws (the rest of the chain, its random state included, stays).
        self._masked_draws = min_tokens
        if min_tokens > 0:
            eog = model.eog_ids()
            bias = (L.llama_logit_bias * len(eog))(*[L.llama_logit_bias(int(t), float("-inf")) for t in eog])
            L.llama_sampler_chain_add(self.ptr, L.llama_sampler_init_logit_bias(model.n_vocab, len(eog), bias))
        if temperature <= 0.0:
            L.llama_sampler_chain_add(self.ptr, L.llama_sampler_init_greedy())
        else:
            if top_k > 0:
                L.llama_sampler_chain_add(self.ptr, L.llama_sampler_init_top_k(top_k))
            if top_p < 1.0:
                L.llama_sampler_chain_add(self.ptr, L.llama_sampler_init_top_p(top_p, 1))
            if min_p > 0.0:
                L.llama_sampler_chain_add(self.ptr, L.llama_sampler_init_min_p(min_p, 1))
            L.llama_sampler_chain_add(self.ptr, L.llama_sampler_init_temp(temperature))
            L.llama_sampler_chain_add(self.ptr, L.llama_sampler_init_dist(seed & 0xFFFFFFFF))
        if self.grammar is not None:
            self._one = np.zeros(1, dtype=_TOKEN_DATA)
            self._one_view = self._candidates(self._one)

    @staticmethod
    def _candidates(buf: np.ndarray):
        arr = L.llama_token_data_array()
        arr.data = buf.ctypes.data_as(L.llama_token_data_p)
        arr.size = len(buf)
        arr.selected = -1
        arr.sorted = False
        return arr

    def sample(self, ctx: Context, batch_index: int) -> int:
        if self.argmax:
            ptr = L.llama_get_logits_ith(ctx.ptr, batch_index)
            if not ptr:
                raise BackendError(f"llama.cpp has no logits at batch index {batch_index}: {log_tail(2)}")
            token = int(np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).argmax())
            L.llama_sampler_accept(self.ptr, token)
            return token
        token = int(L.llama_sampler_sample(self.ptr, ctx.ptr, batch_index))
        if self._masked_draws > 0:
            self._masked_draws -= 1
            if self._masked_draws == 0:
                L.llama_sampler_free(L.llama_sampler_chain_remove(self.ptr, 0))
                self.argmax = self.greedy_plain
        if self.grammar is None:
            return token
        one = self._one
        one["id"][0], one["logit"][0], one["p"][0] = token, 0.0, 0.0
        self._one_view.size, self._one_view.selected = 1, -1
        L.llama_sampler_apply(self.grammar, ctypes.byref(self._one_view))
        if not np.isfinite(one["logit"][0]):  # rejected: constrain every candidate, then draw again
            token = self._constrained(ctx, batch_index)
        L.llama_sampler_accept(self.grammar, token)
        return token

    def _constrained(self, ctx: Context, batch_index: int) -> int:
        """Draw again among the tokens the grammar allows: first among the `_SHORTLIST` most likely (cheap),
        and over the whole vocabulary only when none of those is allowed."""
        ptr = L.llama_get_logits_ith(ctx.ptr, batch_index)
        if not ptr:
            raise BackendError(f"llama.cpp has no logits at batch index {batch_index}: {log_tail(2)}")
        logits = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))
        top = np.argpartition(logits, -_SHORTLIST)[-_SHORTLIST:]
        token = self._draw(np.ascontiguousarray(top, dtype=np.int32), logits[top])
        if token is None:
            token = self._draw(np.arange(self.n_vocab, dtype=np.int32), logits)
        if token is None:
            raise BackendError("the grammar allows no token here (is it satisfiable?)")
        return token

    def _draw(self, ids: np.ndarray, logits: np.ndarray) -> int | None:
        buf = np.empty(len(ids), dtype=_TOKEN_DATA)
        buf["id"], buf["logit"], buf["p"] = ids, logits, 0.0
        view = self._candidates(buf)
        L.llama_sampler_apply(self.grammar, ctypes.byref(view))
        if not np.isfinite(buf["logit"]).any():
            return None
        L.llama_sampler_apply(self.ptr, ctypes.byref(view))
        if view.selected < 0 or view.selected >= view.size:
            return None
        return int(view.data[view.selected].id)

    def close(self) -> None:
        if self.grammar is not None:
            L.llama_sampler_free(self.grammar)
            self.grammar = None
        if self.ptr:
            L.llama_sampler_free(self.ptr)
            self.ptr = None


def sample_many(ctx: Context, draws: Sequence[tuple[Sampler, int]], pool: ThreadPoolExecutor | None) -> list[int]:
    """One token per (sampler, batch index) of the last decode, in order. With a pool, the draws run in its
    threads, in contiguous chunks: the ctypes calls release the GIL, and each draw touches only its own sampler
    and reads the shared logits, so the tokens are those of drawing one by one."""
    if pool is None or len(draws) < 2:
        return [s.sample(ctx, i) for s, i in draws]
    # The first logits read applies llama.cpp's pending output reordering (a write); once done here, on this
    # thread, the reads in the pool are read-only.
    L.llama_get_logits_ith(ctx.ptr, draws[0][1])
    k = min(pool._max_workers, len(draws))
    chunks = [draws[len(draws) * c // k : len(draws) * (c + 1) // k] for c in range(k)]
    drawn = map_to_the_end(pool, lambda chunk: [s.sample(ctx, i) for s, i in chunk], chunks)
    return [token for chunk in drawn for token in chunk]


def map_to_the_end(pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`pool.map(fn, items)` as a list, except that when this thread is interrupted (Ctrl-C, SIGTERM) or a
    call fails, every call already started runs to its end before the error goes up, and none starts after.
    The callers free what the calls use as the error unwinds (the samplers of a wave, then the context):
    freeing it under a call still running in the pool would crash the process. The calls are counted as they
    enter, so one whose `submit` was cut short by the interrupt is waited for too."""
    gate = threading.Condition()
    state = {"inside": 0, "stopping": False}

    def call(x: T) -> R:
        with gate:
            if state["stopping"]:
                raise cf.CancelledError()
            state["inside"] += 1
        try:
            return fn(x)
        finally:
            with gate:
                state["inside"] -= 1
                gate.notify_all()

    futures: list[cf.Future] = []
    try:
        for x in items:
            futures.append(pool.submit(call, x))
        return [f.result() for f in futures]
    except BaseException:
        while True:
            try:
                with gate:
                    state["stopping"] = True
                    gate.wait_for(lambda: state["inside"] == 0)
                break
            except KeyboardInterrupt:  # a second Ctrl-C: the calls still end first (they take microseconds)
                continue
        raise


def compile_grammar(model: Model, grammar: str):
    """A native grammar sampler; raises GrammarError with llama.cpp's parse message when it does not parse."""
    log_clear()
    g = L.llama_sampler_init_grammar(model.vocab, grammar.encode("utf-8"), b"root")
    if not g:
        raise GrammarError(
            f"invalid GBNF grammar: {log_tail(3) or 'llama.cpp rejected it'} "
            "(check the rule names, quoting, and that a `root` rule exists)"
        )
    return g


def check_grammar(model: Model, grammar: str) -> None:
    L.llama_sampler_free(compile_grammar(model, grammar))
