"""Closing a backend while another thread is inside the model: the call is abandoned with a clear error and
the memory is freed only after it has left. A SIGTERM to `mctsr eval --concurrency 4` once freed the llama.cpp
context under a worker thread inside `llama_decode` and died with a segmentation fault instead of exit 143."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from mctsr_native.errors import BackendError, EngineClosedError
from mctsr_native.generation.base import BackendBase, GenerationRequest, GenerationResult, Message, SamplingParams

CLOSE_DURING_A_CALL = textwrap.dedent("""
    import sys, threading, time
    from mctsr_native.generation.llama.engine import LlamaBackend
    from mctsr_native.generation.llama.sequential import SequentialLlamaBackend
    from mctsr_native.generation.base import GenerationRequest, Message, SamplingParams
    req = GenerationRequest(messages=(Message(role="user", content="Count to one thousand."),),
                            params=SamplingParams(max_tokens=400, min_tokens=400, seed=1), n=4)
    inside, out = threading.Event(), {}
    def entered(real):  # the worker is inside the model from this call on
        def call(*args, **kwargs):
            inside.set()
            return real(*args, **kwargs)
        return call
    if sys.argv[3] == "engine":
        b = LlamaBackend(sys.argv[1], n_ctx=2048, n_threads=1)
        b.ctx.decode = entered(b.ctx.decode)
    else:
        b = SequentialLlamaBackend(sys.argv[1], n_ctx=2048, n_threads=1)
        b.llm.create_chat_completion = entered(b.llm.create_chat_completion)
    def work():
        try:
            out["result"] = b.generate([req])
        except BaseException as e:
            out["error"] = e
    t = threading.Thread(target=work)
    t.start()
    inside.wait(60)
    time.sleep(float(sys.argv[2]))
    b.close()  # frees the context: before the fix, under the worker's llama_decode
    t.join(120)
    print("worker:", type(out.get("error")).__name__, out.get("error"))
    print("closed:", getattr(b, "ctx", None) is None and getattr(b, "model", None) is None
          and getattr(b, "llm", None) is None)
""")


@pytest.mark.model
@pytest.mark.parametrize("backend,delay", [("engine", 0.0), ("engine", 0.5), ("sequential", 0.5)])
def test_closing_the_engine_during_a_call_on_another_thread_abandons_the_call(default_model_path, backend,
                                                                             delay) -> None:
    """In a child process, so that a segmentation fault fails this test instead of ending the suite. The
    engine stops the call at its next decode step; the sequential baseline before its next completion."""
    done = subprocess.run([sys.executable, "-c", CLOSE_DURING_A_CALL, str(default_model_path), str(delay),
                           backend],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"rc {done.returncode} (−11 = segmentation fault): {done.stderr[-2000:]}"
    assert "worker: EngineClosedError" in done.stdout and "was closed during this call" in done.stdout
    assert "closed: True" in done.stdout  # it did free the model, once the call had left


@pytest.mark.model
def test_a_closed_engine_refuses_calls_with_advice(default_model_path) -> None:
    from mctsr_native.generation.llama.engine import LlamaBackend

    b = LlamaBackend(default_model_path, n_ctx=512, n_threads=1)
    b.close()
    b.close()  # twice is harmless
    msgs = (Message(role="user", content="Hi"),)
    with pytest.raises(EngineClosedError, match="is closed .*open a new backend"):
        b.generate([GenerationRequest(messages=msgs, params=SamplingParams(max_tokens=4))])
    with pytest.raises(EngineClosedError, match="is closed"):
        b.count_tokens(msgs)
    assert issubclass(EngineClosedError, BackendError)  # callers that handle a failed backend handle this


class Blocking(BackendBase):
    """A backend whose calls stay inside until released; `freed` says whether close() went on to free."""

    name = "blocking"
    thread_safe = True

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.inside = threading.Semaphore(0)
        self.freed = False

    def _generate(self, requests, call):
        self.inside.release()
        assert self.release.wait(30)
        return [GenerationResult(completions=(), prompt_tokens=0, evaluated_prompt_tokens=0, reused_prompt_tokens=0)
                for _ in requests]

    def close(self) -> None:
        if self._quiesce():
            self.freed = True


def _call_in_thread(b: Blocking) -> threading.Thread:
    req = GenerationRequest(messages=(Message(role="user", content="x"),))
    t = threading.Thread(target=b.generate, args=([req],))
    t.start()
    return t


def test_close_waits_for_the_calls_inside_and_calls_are_not_serialised() -> None:
    b = Blocking()
    workers = [_call_in_thread(b), _call_in_thread(b)]
    assert b.inside.acquire(timeout=10) and b.inside.acquire(timeout=10)  # both inside at once
    closer = threading.Thread(target=b.close)
    closer.start()
    time.sleep(0.2)
    assert closer.is_alive() and not b.freed  # it waits while calls are inside
    b.release.set()
    closer.join(10)
    assert b.freed
    for t in workers:
        t.join(10)


def test_close_leaves_the_memory_allocated_when_a_call_does_not_leave() -> None:
    b = Blocking()
    b.close_wait_seconds = 0.2
    worker = _call_in_thread(b)
    assert b.inside.acquire(timeout=10)
    with pytest.warns(RuntimeWarning, match="still inside the model after 0 s; its memory is left allocated"):
        b.close()
    assert not b.freed  # freeing under the call would crash: the process reclaims it at exit instead
    b.release.set()
    worker.join(10)


@pytest.mark.model
def test_sigterm_while_concurrent_baselines_decode_exits_143_and_keeps_the_run(default_model_path,
                                                                                tmp_path: Path) -> None:
    """The reported crash, end to end: `mctsr eval --concurrency 4` stopped by SIGTERM while the baselines of
    several problems are being drawn (a worker thread is inside llama_decode)."""
    data = tmp_path / "d.jsonl"
    data.write_text("".join(f'{{"id": "p{i}", "problem": "What is {i} + {i}?", "answer": "{2 * i}"}}\n'
                            for i in range(1, 9)))  # twice the concurrency: baselines stay queued
    out = tmp_path / "run.jsonl"
    mctsr = Path(sys.executable).with_name("mctsr")
    proc = subprocess.Popen([str(mctsr), "eval", "--data", str(data), "--out", str(out), "--rollouts", "0",
                             "--baseline", "sc", "--concurrency", "4", "--progress", "lines",
                             "--answer-max-tokens", "256", "--threads", "1"],
                            stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(600, proc.kill)  # a hang guard, not a timing assert: a hung eval fails, not CI
    watchdog.start()
    lines: list[str] = []
    assert proc.stderr is not None
    for line in proc.stderr:  # the first problem's baselines are recorded: the others' are being drawn
        lines.append(line)
        if "baselines" in line:
            break
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGTERM)
    rest = proc.communicate()[1]
    watchdog.cancel()
    err = "".join(lines) + rest
    assert proc.returncode == 143, f"rc {proc.returncode} (−11 = segmentation fault): {err[-2000:]}"
    assert "mctsr: terminated (SIGTERM)" in err and "re-run to resume" in err
    from mctsr_native.runfile import read_run

    run = read_run(out)
    assert any(r.get("method") == "sc" for r in run.records)  # what was written before the signal stays


def test_an_interrupt_while_sampling_in_threads_waits_for_the_draws_to_end() -> None:
    """Ctrl-C (or SIGTERM) on the thread that waits for the sampling threads: before the error goes up (and
    the wave's samplers, then the context, are freed as it unwinds), every draw already started has ended."""
    from concurrent.futures import ThreadPoolExecutor

    from mctsr_native.generation.llama.native import map_to_the_end

    running, started, ended = threading.Semaphore(0), [], []

    def draw(x: int) -> int:
        started.append(x)
        running.release()
        time.sleep(0.5)
        ended.append(x)
        return x

    def interrupt_once_both_draw() -> None:
        assert running.acquire(timeout=10) and running.acquire(timeout=10)
        os.kill(os.getpid(), signal.SIGINT)  # a real signal: it wakes the main thread from its wait

    # SIGINT raises KeyboardInterrupt whatever this process inherited (under `nohup ... &` it arrives ignored)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with ThreadPoolExecutor(2) as pool:
            threading.Thread(target=interrupt_once_both_draw).start()
            with pytest.raises(KeyboardInterrupt):
                map_to_the_end(pool, draw, [1, 2, 3, 4])
            assert len(started) >= 2 and sorted(ended) == sorted(started)  # every draw started had ended
    finally:
        signal.signal(signal.SIGINT, before)
    assert map_to_the_end(ThreadPoolExecutor(2), lambda x: 2 * x, [1, 2, 3]) == [2, 4, 6]


def _sigint_not_ignored() -> None:
    """In the child before it runs: SIGINT as a terminal sends it. Under `nohup ... &` (how CI may start the
    suite) it is inherited ignored, and Python then keeps ignoring it, as a background job should."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.model
@pytest.mark.parametrize("sig,rc", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_while_the_model_loads_stops_the_command(default_model_path, sig, rc) -> None:
    """While llama.cpp loads a model, the only code that ran in Python was its log callback; a signal's handler
    ran there, ctypes swallowed what it raised, and `mctsr solve` went on with its whole search. The sink is
    native now: the signal waits for the load to return, then stops the command.

    The load is held open: llama.cpp's log goes to a one-page pipe that this test stops reading at the first
    loader line, so the sink blocks inside `llama_model_load_from_file` while the signal arrives."""
    env = {**os.environ, "MCTSR_LLAMA_VERBOSE": "1"}  # llama.cpp's log on standard error
    mctsr = Path(sys.executable).with_name("mctsr")
    proc = subprocess.Popen([str(mctsr), "solve", "What is 12 * 7 + 5?", "--rollouts", "8", "--threads", "1",
                             "--model", str(default_model_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, pipesize=4096, env=env,
                            preexec_fn=_sigint_not_ignored)
    watchdog = threading.Timer(600, proc.kill)  # a hang guard, not a timing assert
    watchdog.start()
    assert proc.stderr is not None
    seen = b""
    while b"llama_model_loader" not in seen:  # byte by byte (unbuffered): the pipe is not drained past it
        line = proc.stderr.readline()
        assert line, f"the command ended before loading: {seen.decode(errors='replace')[-2000:]}"
        seen += line
    proc.send_signal(sig)
    time.sleep(0.5)  # the load is still writing its log into the full pipe
    out_b, err_b = proc.communicate()
    watchdog.cancel()
    out, err = out_b.decode(errors="replace"), (seen + err_b).decode(errors="replace")
    assert "Exception ignored on calling ctypes callback" not in err
    assert proc.returncode == rc, f"rc {proc.returncode}: {out[-1000:]}{err[-2000:]}"
    assert ("terminated (SIGTERM)" if sig == signal.SIGTERM else "interrupted") in err, out + err[-2000:]
    assert "answer:" not in out  # no search ran after the signal (the old code ran all 8 rollouts)
