"""The front door on a real `verirl serve` over real sockets: slowloris, oversized and too many
headers, and a client that opens far more connections than the server may hold."""

from __future__ import annotations

import json
import resource
import socket

import httpx
import psutil
import pytest

from tests import procs

MAX_CONNECTIONS = 128
HALF_SENT = b"POST /v1/score HTTP/1.1\r\nHost: x\r\n"  # then silence: the slowloris request


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory):
    """A server whose header-read timeout is long (so it is the connection bound, not the timeout,
    that keeps it serving) and whose connection bound is small."""
    tmp = tmp_path_factory.mktemp("guarded")
    proc, url = procs.start_server(
        tmp, workers=1, VERIRL_MAX_CONNECTIONS=str(MAX_CONNECTIONS), VERIRL_HEADER_TIMEOUT_S="120"
    )
    yield proc, url
    proc.stop()


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _raw(url: str, data: bytes) -> bytes:
    """Send ``data`` on a new connection; read until the server closes it."""
    with socket.create_connection(("127.0.0.1", _port(url)), timeout=30) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


def _error(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def _raise_own_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))


def test_oversized_header_gets_431(guarded):
    _, url = guarded
    status, body = _error(_raw(url, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"))
    assert status == 431
    assert body["error"]["code"] == "headers_too_large"
    assert "65536 bytes" in body["error"]["message"]


def test_unterminated_huge_header_gets_431_without_reading_it_all(guarded):
    proc, url = guarded
    before = psutil.Process(proc.pid).memory_info().rss
    with socket.create_connection(("127.0.0.1", _port(url)), timeout=30) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent, answer = 0, b""
        try:
            while sent < 100 * 1024 * 1024:  # 100 MB, never terminated
                s.sendall(b"a" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = s.recv(4096)
        except ConnectionResetError:
            pass
    assert sent < 100 * 1024 * 1024, "the server read a 100 MB header"
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    assert psutil.Process(proc.pid).memory_info().rss - before < 50 * 1024 * 1024


def test_too_many_headers_get_431(guarded):
    _, url = guarded
    many = b"".join(b"X-%d: a\r\n" % i for i in range(20_000))
    status, body = _error(_raw(url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"))
    assert status == 431
    assert "header fields" in body["error"]["message"] or "bytes" in body["error"]["message"]
    status, body = _error(_raw(url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many[:1500] + b"\r\n"))
    assert status == 431 and body["error"]["message"] == "more than 100 header fields"


def test_normal_requests_and_pipelining_still_work(guarded):
    _, url = guarded
    raw = _raw(url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.count(b"HTTP/1.1 200 OK") == 2
    with httpx.Client(base_url=url) as c:  # keep-alive: several requests on one connection
        for _ in range(3):
            r = c.post("/v1/score", json={"items": [{"completion": "\\boxed{2}", "answer": "2"}]})
            assert r.status_code == 200 and r.json()["results"][0]["verdict"] == "correct"


def test_slowloris_from_one_client_neither_starves_healthz_nor_exhausts_descriptors(guarded):
    """20x the connection bound, each a half-sent request: the server keeps at most its bound
    open (it drops the oldest half-sent ones), and /healthz and a grading request are served."""
    proc, url = guarded
    n = 20 * MAX_CONNECTIONS
    _raise_own_fd_limit(n + 256)
    server = psutil.Process(proc.pid)
    fds_before = server.num_fds()
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", _port(url)), timeout=30)
            try:
                s.sendall(HALF_SENT)
            except (BrokenPipeError, ConnectionResetError):
                pass
            socks.append(s)
        r = httpx.get(url + "/healthz", timeout=60)
        assert r.status_code == 200 and r.json() == {"status": "ok"}
        r = httpx.post(url + "/v1/score", json={"items": [{"completion": "\\boxed{2}", "answer": "2"}]}, timeout=60)
        assert r.json()["results"][0]["verdict"] == "correct"
        held = sum(1 for c in server.net_connections(kind="tcp") if c.status == psutil.CONN_ESTABLISHED)
        assert held <= MAX_CONNECTIONS + 2, f"the server holds {held} connections"
        assert server.num_fds() <= fds_before + MAX_CONNECTIONS + 8
        # The survivors are the newest half-sent connections, still waiting (no timeout fired).
        assert not _closed_by_server(socks[-1])
        assert _closed_by_server(socks[0])
    finally:
        for s in socks:
            s.close()


def _closed_by_server(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        s.setblocking(True)


def test_header_read_timeout_answers_408(tmp_path):
    proc, url = procs.start_server(tmp_path, workers=1, VERIRL_HEADER_TIMEOUT_S="1")
    try:
        status, body = _error(_raw(url, HALF_SENT))
        assert status == 408
        assert body["error"] == {"code": "request_timeout", "message": "request headers not received within 1 s"}
        # a connection that sends nothing at all is closed the same way
        status, _ = _error(_raw(url, b""))
        assert status == 408
        assert httpx.get(url + "/healthz").status_code == 200
    finally:
        proc.stop()


def test_serve_prints_its_address(guarded):
    proc, url = guarded
    assert f"verirl: serving on {url} (embedded mode)" in proc.log_text()
