"""The HTTP backend against hostile servers: one that dribbles a byte at a time (an overall deadline per
request ends it), one that sends far more than max_tokens allows (a size cap refuses it), and bad URLs and
API keys refused up front with a message that names them."""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable

import pytest

from mctsr_native.errors import BackendError, InvalidConfigError
from mctsr_native.generation import open_backend
from mctsr_native.generation.base import GenerationRequest, Message, SamplingParams
from mctsr_native.generation.http import HttpBackend


def _request(max_tokens: int = 8) -> GenerationRequest:
    return GenerationRequest(messages=(Message(role="user", content="What is 2+2?"),),
                             params=SamplingParams(max_tokens=max_tokens))


class RawServer:
    """A TCP server on 127.0.0.1 whose every connection is handed to `serve(conn)` on its own thread."""

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()
        self.serve = serve
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)  # the request (small: one recv is enough here)
            self.serve(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def raw_server():
    servers: list[RawServer] = []

    def make(serve: Callable[[socket.socket], None]) -> RawServer:
        servers.append(RawServer(serve))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def _dribble(stop_after: float, start: bytes = b"") -> Callable[[socket.socket], None]:
    def serve(conn: socket.socket) -> None:
        conn.sendall(start)
        t0 = time.monotonic()
        while time.monotonic() - t0 < stop_after:
            conn.sendall(b" ")  # one byte at a time, each well within any per-read timeout
            time.sleep(0.1)

    return serve


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_dribbling_server_times_out_within_the_deadline(raw_server, where: str) -> None:
    head = b"" if where == "headers" else b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n" \
                                          b"content-length: 100000\r\n\r\n"
    server = raw_server(_dribble(30.0, head if where == "body" else b"HTTP/1.1 200 OK\r\nx-slow:"))
    b = HttpBackend([server.url], model="m", retries=0, timeout=1.0)
    t0 = time.monotonic()
    (result,) = b.generate([_request()])
    elapsed = time.monotonic() - t0
    b.close()
    assert elapsed < 15.0, f"took {elapsed:.1f} s against a 1 s deadline (the server dribbles for 30 s)"
    assert isinstance(result.error, BackendError)
    assert "no complete reply within 1 s" in str(result.error) and "--timeout" in str(result.error)


def test_a_reply_far_larger_than_max_tokens_is_refused_without_buffering_it(raw_server) -> None:
    size = 64 << 20  # 64 MiB announced; the cap for max_tokens=8 is about 1 MiB

    def serve(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                     + f"content-length: {size}\r\n\r\n".encode())
        chunk = b" " * (1 << 16)
        for _ in range(size // len(chunk)):
            conn.sendall(chunk)

    server = raw_server(serve)
    b = HttpBackend([server.url], model="m", retries=2, timeout=20.0)
    (result,) = b.generate([_request(max_tokens=8)])
    b.close()
    assert isinstance(result.error, BackendError)
    message = str(result.error)
    assert "over 1,049,088 bytes" in message and "max_tokens" in message
    assert "attempts" not in message  # not retried: the server will send the same again


@pytest.mark.parametrize("url", ["ftp://example.com/v1", "file:///etc/passwd", "gopher://h:70"])
def test_a_non_http_url_is_refused_as_a_url(url: str) -> None:
    with pytest.raises(InvalidConfigError, match="http:// or https://"):
        open_backend(url)


@pytest.mark.parametrize("key", ["sk-abc\n", "sk-\r\nX-Evil: 1", "sk-\x00", "ключ"])
def test_a_bad_api_key_is_refused_naming_the_problem(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidConfigError, match="api_key"):
        HttpBackend(["http://127.0.0.1:9"], api_key=key)
    if "\x00" in key:
        return  # an environment variable cannot hold a NUL
    monkeypatch.setenv("MCTSR_API_KEY", key)
    with pytest.raises(InvalidConfigError, match="MCTSR_API_KEY"):
        HttpBackend(["http://127.0.0.1:9"])
