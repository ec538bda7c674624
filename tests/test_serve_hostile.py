"""`mctsr serve` against hostile clients (issue 22): prompt templates that size, inspect or name what they
should not are a 400 naming the field; options the engine cannot serve are a 400 naming the value and the
limit, before any work, and the next ordinary request succeeds; a client that dribbles its headers, idles,
or sends its body slowly loses its connection (a 408 for the body); a reply that overran its time limit
says by how much. The real server runs on 127.0.0.1 with the default model; the wire rules run in-process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from solver_fakes import FakeBackend

from mctsr_native.serve_protocol import RequestError, parse_chat_request, time_limit_note

ROOT = Path(__file__).resolve().parents[1]
USER = [{"role": "user", "content": "Tom has 3 apples and buys 4 more. How many apples does he have?"}]
TINY = {"answer_max_tokens": 16, "critique_max_tokens": 8, "refine_max_tokens": 16, "reward_max_tokens": 16,
        "reward_samples": 1, "reselect_samples": 0}
HOSTILE_TEMPLATES = [
    ("problem_block", "{problem:>200000000}"),  # 200 MB: std::bad_alloc aborted the server
    ("problem_block", "{problem.__class__.__mro__}"),  # attribute access
    ("problem_block", "{problem[99999]}"),  # index access: was a 500
    ("refine_task", "{secret}"),  # an unknown name: was a 500
    ("answer_block", "{answer!r}"),  # a conversion
    ("answer_task", "{problem:{answer_format}}"),  # a nested spec
    ("critique_block", "{critique"),  # not a template
    ("system", "x" * 40000),  # too long
]


def _body(**mctsr: Any) -> dict[str, Any]:
    return {"model": "mctsr-1", "messages": USER, "max_tokens": 16, "mctsr": {**TINY, **mctsr}}


# ----- the wire rules, in-process ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "template"), HOSTILE_TEMPLATES)
def test_a_hostile_template_is_a_400_naming_the_field(name: str, template: str) -> None:
    with pytest.raises(RequestError) as e:
        parse_chat_request(_body(prompts={name: template}))
    assert e.value.status == 400 and e.value.param == f"mctsr.prompts.{name}"
    assert e.value.message.startswith(f"mctsr.prompts.{name} ") and "\n" not in e.value.message


@pytest.mark.parametrize(("name", "template"), HOSTILE_TEMPLATES)
def test_a_hostile_template_is_refused_under_self_consistency_too(name: str, template: str) -> None:
    with pytest.raises(RequestError) as e:
        parse_chat_request({"model": "mctsr-sc-4", "messages": USER, "mctsr": {"prompts": {name: template}}})
    assert e.value.status == 400 and e.value.param == f"mctsr.prompts.{name}"


def test_the_app_never_500s_on_hostile_bodies_and_can_refuse_prompts_outright() -> None:
    from fastapi.testclient import TestClient

    from mctsr_native.serve import ServeOptions, create_app

    for override in (True, False):
        with TestClient(create_app(FakeBackend(), ServeOptions(prompt_override=override))) as http:
            r = http.post("/v1/chat/completions", json=_body(prompts={"dummy_answer": "No idea."}))
            assert r.status_code == (200 if override else 400), r.text
            if not override:
                assert "--no-prompt-override" in r.json()["error"]["message"]
            for name, template in HOSTILE_TEMPLATES:
                r = http.post("/v1/chat/completions", json=_body(prompts={name: template}))
                assert r.status_code == 400 and r.json()["error"]["param"].startswith("mctsr.prompts")
            for raw in (b'{"model": "mctsr-0", "messages": [{"role": "user", "content": "x \\ud800"}]}',
                        b'{"model": "mctsr-0", "messages": [{"role": "user", "content": "x \\u0000"}]}',
                        b'{"model": "mctsr-0", "seed": ' + b"9" * 5000 + b"}"):
                r = http.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
                assert r.status_code == 400 and r.json()["error"]["message"], r.text
            stats = http.get("/v1/mctsr/stats").json()
            assert stats["failed"] == 0 and stats["completed"] == int(override)


def test_a_reply_past_its_time_limit_says_by_how_much() -> None:
    assert time_limit_note({"wall_seconds": 3.0}, 5.0) is None
    late = time_limit_note({"wall_seconds": 7.25}, 5.0)
    assert late == {"max_seconds": 5.0, "overran_seconds": 2.25,
                    "why": "the limit is checked between steps; the step in progress completed"}


@pytest.mark.parametrize("bad", [{"header_timeout": float("inf")}, {"body_timeout": 0}, {"max_seconds": float("nan")},
                                 {"prompt_override": "no"}])
def test_bad_limits_are_refused(bad: dict[str, Any]) -> None:
    from mctsr_native.errors import InvalidConfigError
    from mctsr_native.serve import ServeOptions

    with pytest.raises(InvalidConfigError, match=next(iter(bad))):
        ServeOptions(**bad).validate()


# ----- the real server --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Any:
    """`mctsr serve` on the default model with short read deadlines (1 s for headers, 2 s for a body)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    cmd = [sys.executable, "-m", "mctsr_native.cli", "serve", "--port", str(port), "--threads", "1", "--n-ctx", "4096",
           "--max-concurrency", "2", "--max-seconds", "120", "--header-timeout", "1", "--body-timeout", "2"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "python"), os.environ.get("PYTHONPATH")]))}
    env.pop("MCTSR_API_KEY", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited ({proc.returncode}): {log.read_text()[-2000:]}")
            try:
                if httpx.get(url + "/v1/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer within 90 s: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url, port, log
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _post(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", json=body, timeout=300)


def _healthy(url: str) -> None:
    r = _post(url, {**_body(), "model": "mctsr-0"})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"].strip(), r.text


@pytest.mark.model
@pytest.mark.server
def test_an_oversized_request_then_a_normal_one_succeeds(server) -> None:
    url, _, _ = server
    for extra, param, words in (
            ({"reward_samples": 300}, None, "reward_samples must be an int in [1, 256], got 300"),
            ({"reward_samples": 17}, "mctsr.reward_samples", "decodes at most 16 sequences at once"),
            ({"reward_samples": 16, "reward_max_tokens": 600}, "mctsr.reward_samples",
             "need 9600 KV cells together, but the engine holds"),
            ({"critique_max_tokens": 9000}, "mctsr.critique_max_tokens", "leaves no room for the prompt")):
        r = _post(url, _body(**extra))
        error = r.json()["error"]
        assert r.status_code == 400 and error["param"] == param and words in error["message"], r.text
    for model in ("mctsr-1", "mctsr-sc-8"):
        r = _post(url, {"model": model, "messages": USER, "max_tokens": 9000})
        assert r.status_code == 400 and r.json()["error"]["param"] == "max_tokens", r.text
    stats = httpx.get(url + "/v1/mctsr/stats", timeout=10).json()
    assert stats["queued"] == stats["running"] == stats["failed"] == 0  # refused before any work
    reply = _post(url, _body())  # the next ordinary request: a full search on the same engine
    assert reply.status_code == 200 and reply.json()["mctsr"]["rollouts"] == 1, reply.text


@pytest.mark.model
@pytest.mark.server
def test_hostile_templates_never_reach_the_model(server) -> None:
    url, _, log = server
    for name, template in HOSTILE_TEMPLATES:
        r = _post(url, _body(prompts={name: template}))
        assert r.status_code == 400 and r.json()["error"]["param"] == f"mctsr.prompts.{name}", r.text
    assert "Traceback" not in log.read_text()


def _closed_while_dribbling(port: int, first: bytes, unit: bytes, seconds: float = 20.0) -> bytes | None:
    """Send `first`, then `unit` every 0.2 s; the server's reply (b"" if it only closed) when it closes the
    connection before `seconds` pass, None when it kept the connection open the whole time."""
    with socket.create_connection(("127.0.0.1", port), timeout=seconds + 10) as conn:
        conn.sendall(first)
        conn.settimeout(0.2)
        got = b""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = conn.recv(65536)
            except socket.timeout:
                data = None
            except ConnectionResetError:
                return got
            if data == b"":
                return got
            if data:
                got += data
            try:
                if unit:
                    conn.sendall(unit)
            except (BrokenPipeError, ConnectionResetError):
                return got
        return None


@pytest.mark.model
@pytest.mark.server
@pytest.mark.parametrize("how", ["idle", "dribbled headers", "dribbled headers after a reply", "slow body"])
def test_a_slow_client_loses_its_connection(server, how: str) -> None:
    url, port, _ = server
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if how == "idle":
        got = _closed_while_dribbling(port, b"", b"")
    elif how == "dribbled headers":
        got = _closed_while_dribbling(port, head, b"X")
    elif how == "dribbled headers after a reply":  # keep-alive: the next request gets its own deadline
        got = _closed_while_dribbling(port, b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + head, b"X")
        assert got is not None and got.startswith(b"HTTP/1.1 200"), got
    else:
        got = _closed_while_dribbling(port, head + b"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{",
                                      b" ")
        assert got is not None and got.startswith(b"HTTP/1.1 408") and b"did not arrive within 2 s" in got, got
    assert got is not None, f"{how}: the server kept the connection open while the client dribbled for 20 s"


@pytest.mark.model
@pytest.mark.server
def test_a_search_that_overran_its_time_limit_says_so(server) -> None:
    url, _, _ = server
    r = _post(url, _body(max_seconds=0.01))
    s = r.json()["mctsr"]
    assert s["stop_reason"] == "time" and s["time_limit"]["max_seconds"] == 0.01
    assert s["time_limit"]["overran_seconds"] > 0 and s["wall_seconds"] > 0.01


@pytest.mark.model
@pytest.mark.server
def test_the_server_still_answers_after_every_hostile_client(server) -> None:
    url, _, log = server
    assert httpx.get(url + "/v1/models", timeout=10).status_code == 200
    _healthy(url)
    stats = httpx.get(url + "/v1/mctsr/stats", timeout=10).json()
    assert stats["failed"] == 0 and stats["running"] == 0, stats
    text = log.read_text()
    assert "Traceback" not in text and "no complete request headers within 1 s" in text
