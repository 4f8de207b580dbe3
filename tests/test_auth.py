"""Bearer-token auth: with VERIRL_API_KEYS set, every endpoint but /healthz needs a right token."""

from __future__ import annotations

import httpx
import pytest

from tests import procs

KEY = "test-key-0123456789"


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    proc, url = procs.start_server(tmp_path_factory.mktemp("auth"), workers=1, VERIRL_API_KEYS=f"other-key-abcdef,{KEY}",
                                   VERIRL_LOG_LEVEL="debug")
    _PROCS["secured"] = proc
    yield url
    proc.stop()


_PROCS: dict = {}


BODY = {"items": [{"completion": "\\boxed{1}", "answer": "1"}]}


def _routes() -> list[tuple[str, str]]:
    """Every route of the app as built with keys set (so new endpoints are covered as they land)."""
    from service.app import create_app
    from verirl.settings import Settings

    app = create_app(Settings(api_keys=KEY))
    out = [("get", "/docs"), ("get", "/openapi.json")]  # served outside the schema
    for path, ops in app.openapi()["paths"].items():
        for m in sorted(ops):
            if path != "/healthz":
                out.append((m, path.replace("{", "").replace("}", "")))
    return out


def test_route_list_covers_the_api():
    paths = {p for _, p in _routes()}
    assert {"/v1/score", "/get_reward", "/slime/reward", "/run_code", "/docs", "/openapi.json"} <= paths


@pytest.mark.parametrize(("method", "path"), _routes())
def test_missing_or_wrong_token_is_401(secured, method, path):
    for headers in ({}, {"authorization": "Bearer wrong-token-123"}, {"authorization": KEY}):
        r = httpx.request(method, secured + path, json=BODY, headers=headers)
        assert r.status_code == 401, (path, headers, r.text)
        assert r.json()["error"]["code"] == "unauthorized"
        assert KEY not in r.text


def test_trainer_fast_path_401_is_v1_scores(secured):
    """/get_reward and /slime/reward (an ASGI fast path) refuse a bad key with /v1/score's very answer."""
    bodies = {"/get_reward": {"query": ["q \\boxed{1}"], "labels": ["1"]}, "/slime/reward": {"response": "\\boxed{1}", "label": "1"}}
    for headers, query in (({}, ""), ({"authorization": "Bearer wrong-token-123"}, ""), ({}, "?api_key=wrong-token-123")):
        ref = httpx.post(secured + "/v1/score" + query, json=BODY, headers=headers)
        assert ref.status_code == 401 and ref.headers["www-authenticate"] == "Bearer", ref.text
        for path, body in bodies.items():
            r = httpx.post(secured + path + query, json=body, headers=headers)
            assert (r.status_code, r.json()) == (401, ref.json()), (path, headers, r.text)
            assert r.headers.get("www-authenticate") == "Bearer" and r.headers.get("x-request-id"), (path, r.headers)


def test_right_token_and_open_healthz(secured):
    assert httpx.get(secured + "/healthz").status_code == 200
    r = httpx.post(secured + "/v1/score", json=BODY, headers={"authorization": f"Bearer {KEY}"})
    assert r.status_code == 200 and r.json()["results"][0]["verdict"] == "correct"


def test_key_in_the_url_for_clients_without_headers(secured):
    # OpenRLHF and slime post to a bare URL: the key can ride in it.
    body = {"query": ["q \\boxed{1}"], "prompts": ["q "], "labels": ["1"]}
    assert httpx.post(secured + f"/get_reward?api_key={KEY}", json=body).json()["rewards"] == [1.0]
    assert httpx.post(secured + "/get_reward?api_key=wrong-token-123", json=body).status_code == 401
    assert httpx.get(secured + f"/?api_key={KEY}").status_code == 200  # the status page in a browser


def test_keys_never_reach_the_logs(secured):
    httpx.post(secured + "/v1/score", json=BODY, headers={"authorization": f"Bearer {KEY}"})
    httpx.post(secured + "/v1/score", json=BODY, headers={"authorization": "Bearer wrong-token-123"})
    log = _PROCS["secured"].log_text()
    assert "scored" in log  # the log is there (debug level) ...
    assert KEY not in log and "other-key-abcdef" not in log and "wrong-token-123" not in log  # ... without any token


def test_placeholder_keys_are_refused():
    from pydantic import ValidationError

    from verirl.settings import Settings

    with pytest.raises(ValidationError):
        Settings(api_keys="changeme")
