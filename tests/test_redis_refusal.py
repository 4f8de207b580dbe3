"""A Redis that refuses us is a configuration error, one that does not answer is an outage.

Against a real ``redis-server --requirepass``: ``verirl serve`` and ``verirl worker`` exit
non-zero at once, naming the password and REDIS_URL; a refusal that starts while the API
runs is a 503 naming REDIS_URL, never a 500. Against a port where nothing listens: the API
serves, and grading and ``/v1/info`` answer 503 with Retry-After.
"""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest
import redis

from tests import procs

PASSWORD = "s3cret-for-tests"


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory: pytest.TempPathFactory):
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("tests need redis-server")
    tmp = tmp_path_factory.mktemp("locked-redis")
    port = procs.free_port()
    proc = procs.Proc([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp),
                       "--requirepass", PASSWORD], procs.clean_env(), tmp / "redis.log")
    r = redis.Redis(port=port, password=PASSWORD)
    for _ in range(100):
        try:
            r.ping()
            break
        except redis.ConnectionError:
            import time

            time.sleep(0.05)
    yield port
    proc.stop()


def _run(args: list[str], redis_url: str, tmp) -> subprocess.CompletedProcess:
    env = procs.clean_env(REDIS_URL=redis_url, VERIRL_DATA_DIR=str(tmp / "data"), VERIRL_WORKERS="1")
    return subprocess.run([str(procs.BIN / "verirl"), *args], env=env, capture_output=True, text=True, timeout=120, cwd=tmp)


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["worker"]])
@pytest.mark.parametrize("auth", ["", ":wrong-password@"])
def test_refused_authentication_stops_serve_and_worker_naming_the_setting(locked_redis, tmp_path, command, auth):
    out = _run(command, f"redis://{auth}127.0.0.1:{locked_redis}/0", tmp_path)
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert f"verirl {command[0]}: error: Redis refused authentication" in out.stderr
    assert "password" in out.stderr and "REDIS_URL" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_right_password_serves_and_a_later_refusal_is_a_503_naming_the_setting(locked_redis, tmp_path):
    proc, url = procs.start_server(tmp_path, redis_url=f"redis://:{PASSWORD}@127.0.0.1:{locked_redis}/0", workers=1)
    admin = redis.Redis(port=locked_redis, password=PASSWORD)
    try:
        assert httpx.get(url + "/v1/info", timeout=30).json()["mode"] == "distributed"
        # The password changes under the running API (and its connections are dropped).
        admin.config_set("requirepass", PASSWORD + "-new")
        admin = redis.Redis(port=locked_redis, password=PASSWORD + "-new")
        admin.client_kill_filter(_type="normal", skipme=True)
        for path in ("/v1/info", "/v1/problems/p1"):
            r = httpx.get(url + path, timeout=60)
            assert r.status_code == 503, (path, r.text)
            assert "REDIS_URL" in r.json()["error"]["message"] and int(r.headers["retry-after"]) >= 1
    finally:
        admin.config_set("requirepass", PASSWORD)
        proc.stop()


def test_an_outage_is_a_503_with_retry_after_on_grading_and_info(tmp_path):
    dead = procs.free_port()  # nothing listens: no answer at all
    proc, url = procs.start_server(tmp_path, redis_url=f"redis://127.0.0.1:{dead}/0", workers=1)
    try:
        r = httpx.post(url + "/v1/score", json={"items": [{"completion": "\\boxed{2}", "answer": "2"}]}, timeout=60)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "unavailable" and int(r.headers["retry-after"]) >= 1, r.text
        info = httpx.get(url + "/v1/info", timeout=60)
        assert info.status_code == 503 and info.json()["error"]["code"] == "unavailable", info.text
        assert int(info.headers["retry-after"]) >= 1
    finally:
        proc.stop()
