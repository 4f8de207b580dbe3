"""docker-compose.yml, Dockerfile, Makefile and documented settings stay true (no Docker engine here)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.procs import REPO
from verirl.settings import Settings
from verirl_app import build_parser


def _subcommands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return set(sub.choices)


def test_compose_commands_are_real_verirl_subcommands():
    spec = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = spec["services"]
    assert {"redis", "api", "worker"} <= set(services)
    assert "--appendonly" in services["redis"]["command"] and "yes" in services["redis"]["command"]
    assert services["redis"]["volumes"]
    subs = _subcommands()
    for name in ("api", "worker"):
        cmd = services[name]["command"]
        assert cmd[0] == "verirl" and cmd[1] in subs, cmd
        assert "healthcheck" in services[name]
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://")
    # each flag given to `verirl serve` exists
    serve_flags = {"--host", "--port", "--workers"}
    assert {a for a in services["api"]["command"] if a.startswith("--")} <= serve_flags
    assert "ports" not in services["worker"]  # workers scale with --scale worker=N


def test_dockerfile_default_command():
    text = (REPO / "Dockerfile").read_text()
    cmd = re.search(r'CMD \["verirl", "(\w+)"', text)
    assert cmd and cmd.group(1) in _subcommands()


def test_docker_compose_config_validates():
    """`make compose-check` (what the README names): BuildKit-free Dockerfile, compose v2 and/or v1."""
    if shutil.which("docker-compose") is None:
        if os.environ.get("VERIRL_REQUIRE_SHARED_DATA"):  # set by .ci/run, which installs it
            pytest.fail("docker-compose is missing in CI")
        pytest.skip("Debian's docker-compose package is not installed (apt-get install docker-compose)")
    out = subprocess.run(["make", "-s", "compose-check"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "compose-check: docker-compose" in out.stdout
    # Without keys compose stops before starting anything, saying what to set (no restart loop).
    env = {k: v for k, v in os.environ.items() if k != "VERIRL_API_KEYS"}
    out = subprocess.run(["docker-compose", "-f", "docker-compose.yml", "config", "-q"], cwd=REPO, env=env,
                         capture_output=True, text=True)
    assert out.returncode != 0 and "set VERIRL_API_KEYS in .env" in out.stderr, out.stderr


def test_dockerfile_builds_with_the_legacy_builder():
    """No BuildKit-only syntax (issue 21: a heredoc made the legacy builder fail), the base image
    named once as a build argument, and a .dockerignore that keeps the venv out of the context."""
    text = (REPO / "Dockerfile").read_text()
    assert "<<" not in text and not re.search(r"^# *syntax=", text, re.M) and "--mount" not in text
    assert re.search(r"^ARG VERIRL_BASE_IMAGE=\S+$", text, re.M) and "FROM ${VERIRL_BASE_IMAGE}" in text
    assert len(re.findall(r"^FROM ", text, re.M)) == 1
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", ".git", "data", "tests"} <= set(ignored)
    spec = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    for svc in ("api", "worker"):
        assert spec["services"][svc]["build"]["args"] == ["VERIRL_BASE_IMAGE"]
    assert "python:" not in (REPO / "docker-compose.yml").read_text()  # the Python base is named in the Dockerfile only
    assert "make compose-check" in (REPO / "README.md").read_text()
    # the checker itself rejects the old heredoc
    assert subprocess.run(["grep", "-qE", r"<<-?['\"]?[A-Za-z_]+", "-"], input="RUN python - <<'EOF'\n",
                          text=True).returncode == 0


def test_every_setting_is_documented():
    readme = (REPO / "README.md").read_text()
    example = (REPO / ".env.example").read_text()
    for name in Settings.model_fields:
        env = "REDIS_URL" if name == "redis_url" else f"VERIRL_{name.upper()}"
        assert env in readme, f"{env} missing from README.md"
        assert env in example, f"{env} missing from .env.example"


def test_readme_quickstart_shows_the_two_commands_first():
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", readme, re.DOTALL)
    assert blocks and "make run" in blocks[0] and "make test" in blocks[0]


def test_makefile_targets_exist():
    mk = (REPO / "Makefile").read_text()
    for target in ("run:", "test:", "test-slow:", "bench:"):
        assert target in mk
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_cli_version():
    from tests.procs import BIN

    out = subprocess.run([str(BIN / "verirl"), "--version"], capture_output=True, text=True, check=True)
    from verirl import __version__

    assert out.stdout.strip() == f"verirl {__version__}"


# --------------------------------------------------------------------------- compose for a cluster

def _compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]


def test_compose_serves_a_cluster():
    services = _compose()
    api, worker = services["api"], services["worker"]
    # GPU nodes must reach the API: published on every interface, and the API binds all of them ...
    assert all(not str(p).startswith("127.") for p in api["ports"]), api["ports"]
    assert api["command"][api["command"].index("--host") + 1] == "0.0.0.0"
    # ... which `verirl serve` refuses without keys (test_serve_refuses_an_open_bind_without_keys).
    assert "VERIRL_API_KEYS" in api["environment"]
    assert any(str(v).endswith(":/data") for v in api["volumes"])  # filter jobs and benchmarks survive
    assert api["environment"]["VERIRL_DATA_DIR"] == "/data"
    for name in ("api", "worker"):
        assert services[name].get("build"), f"{name} has no build:"
        assert services[name]["image"] == api["image"]
    # The worker is healthy when its own heartbeat key is in Redis, not when Redis answers a ping.
    assert worker["healthcheck"]["test"][1:] == ["verirl", "worker", "--healthcheck"]
    # One verifier process per worker container by default: --scale worker=N never oversubscribes.
    assert str(worker["environment"]["VERIRL_WORKERS"]).replace("${VERIRL_WORKERS:-", "").rstrip("}") == "1"
    # A stable name (the container's hostname survives a restart); no pid in it.
    name = worker["environment"]["VERIRL_WORKER_NAME"]
    assert "{hostname}" in name and "{pid}" not in name
    Settings(worker_name=name)  # a valid template


def _dockerfile_requirements() -> list[str]:
    text = (REPO / "Dockerfile").read_text()
    assert "python /tmp/requirements.py" in text, "the Dockerfile lists the dependencies with docker/requirements.py"
    out = subprocess.run([sys.executable, "docker/requirements.py"], cwd=REPO, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_dockerfile_installs_dependencies_before_the_code():
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines()]
    first_code = next(i for i, line in enumerate(lines) if line.startswith("COPY verirl"))
    deps = next(i for i, line in enumerate(lines) if "pip install" in line and "requirements" in line)
    assert deps < first_code
    assert not any(line.startswith("COPY") and "pyproject.toml" not in line and "docker/requirements.py" not in line
                   for line in lines[:deps])
    reqs = {re.split(r"[\[<>=]", r)[0] for r in _dockerfile_requirements()}
    # What the server extra holds, the curation half included (issue 13: /v1/filter without `datasets`).
    assert {"fastapi", "uvicorn", "rq", "redis", "math-verify", "datasets", "tqdm", "rensa"} <= reqs
    assert not any(r.startswith("verirl") for r in reqs)
    assert "--no-deps" in next(line for line in lines[first_code:] if "pip install" in line)


def test_server_extra_has_the_data_tools():
    """`make run` and the image install `.[server]`: it must carry what `verirl filter` imports."""
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith("verirl[") and "data" in r for r in extras["server"])
    assert {"datasets", "tqdm"} <= {re.split(r"[\[<>=]", r)[0] for r in extras["data"]}
    mk = (REPO / "Makefile").read_text()
    assert "install -e '.[server]'" in mk


# --------------------------------------------------------------------------- serve: clear failures

def _serve(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    from tests.procs import BIN, clean_env

    return subprocess.run([str(BIN / "verirl"), "serve", *args], env=clean_env(**env), capture_output=True,
                          text=True, timeout=timeout)


def test_serve_fails_first_and_clearly_when_the_port_is_taken(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = _serve(VERIRL_PORT=str(port), VERIRL_WORKERS="1", VERIRL_DATA_DIR=str(tmp_path))
    assert r.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in r.stderr and "VERIRL_PORT=" in r.stderr, r.stderr
    assert " ready (" not in r.stdout + r.stderr and "startup" not in r.stdout + r.stderr  # refused before starting


def test_serve_refuses_an_open_bind_without_keys(tmp_path):
    r = _serve("--host", "0.0.0.0", VERIRL_DATA_DIR=str(tmp_path))
    assert r.returncode == 1 and "refusing to serve on 0.0.0.0 without VERIRL_API_KEYS" in r.stderr, r.stderr
    # The clients' variable set instead of the server's: the message says which is which.
    r = _serve("--host", "0.0.0.0", VERIRL_API_KEY="a-client-key-123", VERIRL_DATA_DIR=str(tmp_path))
    assert r.returncode == 1 and "VERIRL_API_KEY is set, but that is the clients' variable" in r.stderr, r.stderr
    assert "a-client-key-123" not in r.stderr
    for host, ok in (("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), ("10.0.0.5", False)):
        s = Settings(host=host)
        if ok:
            s.check_serving()
        else:
            with pytest.raises(ValueError):
                s.check_serving()
    Settings(host="0.0.0.0", api_keys="a-long-enough-key").check_serving()
    Settings(host="0.0.0.0", allow_no_auth=True).check_serving()


@pytest.mark.parametrize("secret", ["short1", "changeme", "ok-long-key-1,tiny"])
def test_settings_errors_never_echo_secrets(secret, tmp_path):
    r = _serve(VERIRL_API_KEYS=secret, VERIRL_DATA_DIR=str(tmp_path))
    assert r.returncode == 1
    assert "VERIRL_API_KEYS" in r.stderr and "under 8 characters" in r.stderr, r.stderr
    assert "short1" not in r.stderr and "changeme" not in r.stderr and "tiny" not in r.stderr and "ok-long" not in r.stderr
    assert "Traceback" not in r.stderr and "input_value" not in r.stderr
    # Several bad settings at once: each named, one line, no values.
    r = _serve(VERIRL_API_KEYS=secret, VERIRL_PORT="http", VERIRL_DATA_DIR=str(tmp_path))
    assert r.returncode == 1 and "VERIRL_PORT" in r.stderr and "VERIRL_API_KEYS" in r.stderr
    assert "short1" not in r.stderr and "tiny" not in r.stderr


def test_server_hints_at_the_client_key_and_takes_numeric_answers(tmp_path):
    """Only VERIRL_API_KEY (the clients' variable) set: the server says so in its log; a numeric
    `answer` (as the trainer integrations send it) is graded as its text."""
    from tests.helpers import post
    from tests.procs import start_server

    proc, url = start_server(tmp_path, workers=1, VERIRL_API_KEY="a-client-key-123")
    try:
        r = post(url, "/v1/score", {"items": [
            {"id": "int", "completion": "so \\boxed{2}", "answer": 2},
            {"id": "float", "completion": "\\boxed{\\frac{1}{2}}", "answer": 0.5},
            {"id": "wrong", "completion": "\\boxed{3}", "answer": 2},
            {"id": "bool", "completion": "\\boxed{1}", "answer": True},
        ]})
        assert r.status_code == 200, r.text
        verdicts = [x["verdict"] for x in r.json()["results"]]
        assert verdicts == ["correct", "correct", "incorrect", "error"], r.text
        assert r.json()["results"][3]["details"]["error"]["field"] == "items[3].answer"
        log = proc.log_text()
        assert "VERIRL_API_KEY is set but VERIRL_API_KEYS is not" in log
        assert "a-client-key-123" not in log
    finally:
        proc.stop()


def test_worker_healthcheck_sees_the_heartbeat(clean_redis, tmp_path):
    """`verirl worker --healthcheck` (the compose healthcheck) is 0 while the worker beats, 1 once it stopped."""
    from tests.procs import BIN, clean_env, start_worker

    name = f"hc-{os.getpid()}-{{hostname}}"
    env = {"VERIRL_WORKER_NAME": name}

    def check() -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "verirl"), "worker", "--healthcheck"], env=clean_env(REDIS_URL=clean_redis, **env),
                              capture_output=True, text=True, timeout=60)

    assert check().returncode == 1  # no worker yet
    w = start_worker(tmp_path, clean_redis, 1, **env)
    try:
        import time

        deadline = time.monotonic() + 120
        while (r := check()).returncode != 0 and time.monotonic() < deadline and w.alive():
            time.sleep(0.5)
        assert r.returncode == 0, (r.stdout, w.output())
        assert "alive" in r.stdout
    finally:
        w.stop()
    r = check()
    assert r.returncode == 1 and "no heartbeat" in r.stdout


_INNER_TEST = '''
import redis


def test_inner(clean_redis):
    redis.Redis.from_url(clean_redis).set("inner-test-key", "1")
    print("INNER-URL", clean_redis)
'''


def test_tests_never_flush_the_shells_redis(tmp_path):
    """`make test` with a user's REDIS_URL in the shell: the suite's flushing fixtures use a Redis of their own."""
    from tests.procs import clean_env, start_redis

    proc, users_url = start_redis(tmp_path)  # stands in for a database someone uses
    try:
        import redis

        users = redis.Redis.from_url(users_url)
        users.set("precious", "data")
        (tmp_path / "test_inner.py").write_text(_INNER_TEST)
        env = clean_env(REDIS_URL=users_url, PYTHONPATH=str(REPO))
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "tests.conftest", "-c", os.devnull,
                            "--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
        inner_url = next(line.split()[1] for line in r.stdout.splitlines() if line.startswith("INNER-URL"))
        assert inner_url != users_url
        assert users.get("precious") == b"data" and users.get("inner-test-key") is None
    finally:
        proc.stop()


def test_readme_is_self_contained():
    """Everything the README points at is in the repository (issue 21: a clone has no ../shared)."""
    readme = (REPO / "README.md").read_text()
    assert "../shared" not in readme
    assert "aime24.jsonl" not in readme and '"name": "aime24"' not in readme  # the example uses `demo`
    for target in re.findall(r"\]\(([^)#\s]+)\)", readme):
        if not target.startswith(("http://", "https://")):
            assert (REPO / target).exists(), f"README links to {target}, which is not in the repository"
    for path in re.findall(r"\b((?:docs|examples|bench)/[\w./-]+\.(?:md|py|jsonl))\b", readme):
        assert (REPO / path).exists(), f"README names {path}, which is not in the repository"
    policy = (REPO / "docs" / "MATH_POLICY.md").read_text()
    assert len(re.findall(r"^## \d+\. ", policy, re.M)) == 14
    assert "docs/MATH_POLICY.md" in readme
