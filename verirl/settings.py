"""Every setting verirl reads from the environment, in one place.

Settings come from environment variables with the prefix ``VERIRL_`` (plus the
conventional ``REDIS_URL``) or from a ``.env`` file in the working directory.
Nothing else in the code base reads ``os.environ`` for configuration; call
:func:`get_settings` (cached) instead of building a settings object at import.
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Settings whose values are never shown in an error message or a log line.
SECRET_SETTINGS = frozenset({"api_keys", "redis_url"})


class SettingsError(ValueError):
    """A setting is invalid or unsafe. The message names the variable, never a secret value."""


def _default_workers() -> int:
    return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    """Service configuration. Each field is documented in README.md and .env.example."""

    model_config = SettingsConfigDict(env_prefix="VERIRL_", env_file=".env", extra="ignore")

    # --- network -----------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the API binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port the API binds to.")
    api_keys: str = Field(
        "",
        description="Comma-separated bearer tokens. When set, every endpoint but /healthz requires one.",
    )
    allow_no_auth: bool = Field(
        False,
        description="Serve on a non-loopback address without VERIRL_API_KEYS (behind your own auth proxy).",
    )

    # --- dispatch ----------------------------------------------------------
    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("REDIS_URL", "VERIRL_REDIS_URL"),
        description="Redis URL. Set: distributed mode (RQ workers). Unset: embedded mode.",
    )
    ray_address: str | None = Field(
        None,
        validation_alias=AliasChoices("RAY_ADDRESS", "VERIRL_RAY_ADDRESS"),
        description="Ray cluster for `verirl filter --engine ray` (e.g. ray://head:10001 or auto). Unset: a local Ray for the run.",
    )
    workers: int = Field(
        default_factory=_default_workers,
        ge=1,
        le=256,
        description="Embedded mode: verifier processes in the API. Worker: verifier processes per `verirl worker`.",
    )
    worker_name: str = Field(
        "verirl-{hostname}-{pid}",
        description="Name of a `verirl worker` ({hostname} and {pid} are filled in). Stable across restarts "
        "without {pid}: a restarted worker then takes over its own registration.",
    )
    queue: str = Field("verirl", description="RQ queue name used in distributed mode.")
    chunk_size: int = Field(32, ge=1, le=4096, description="Items per RQ job in distributed mode.")
    data_dir: Path = Field(Path("./data"), description="Embedded mode: directory of the SQLite store.")

    # --- limits ------------------------------------------------------------
    max_items: int = Field(16384, ge=1, description="Most items accepted in one request.")
    max_body_mb: float = Field(64.0, gt=0, description="Largest request body accepted, in MiB.")
    max_completion_chars: int = Field(
        200_000, ge=1, description="Longest completion accepted, in characters."
    )
    max_answer_chars: int = Field(2_000, ge=1, description="Longest ground-truth answer accepted.")
    item_timeout_s: float = Field(
        10.0, gt=0, description="Default budget for verifying one math item, in seconds."
    )
    request_timeout_s: float = Field(
        600.0, gt=0, description="Default deadline of one /v1/score request, in seconds."
    )
    max_queue_depth: int = Field(
        200_000, ge=1, description="Items waiting beyond which the API answers 429."
    )
    job_ttl_s: int = Field(7 * 24 * 3600, ge=60, description="How long async job results are kept.")
    job_lease_s: int = Field(
        30, ge=2, le=3600, description="An API replica's lease on an async job; a job whose lease lapses is taken over."
    )

    # --- the front door (service/serving.py) -------------------------------
    header_timeout_s: float = Field(
        10.0, gt=0, le=300, description="A connection must send its request line and headers within this (408 after)."
    )
    max_header_kb: int = Field(64, ge=4, le=1024, description="Largest request line plus headers, in KiB (431 beyond).")
    max_headers: int = Field(100, ge=8, le=10_000, description="Most header fields in one request (431 beyond).")
    max_connections: int = Field(
        4096, ge=16, le=1_000_000,
        description="Open client connections; past it the oldest one still sending headers is dropped (503 if none).",
    )
    keep_alive_s: float = Field(5.0, gt=0, le=3600, description="An idle keep-alive connection is closed after this.")

    log_level: str = Field("info", description="Log level of the service and workers.")

    # --- curation ----------------------------------------------------------
    dedup_threshold: float = Field(
        0.8, ge=0.5, le=1.0, description="Estimated Jaccard similarity (character 5-gram MinHash) for a near duplicate."
    )
    max_problems: int = Field(10_000, ge=1, description="Most problems accepted in one POST /v1/problems.")

    # --- rewards -----------------------------------------------------------
    default_reward: str = Field(
        "accuracy",
        description="Reward spec used when a request gives none: a preset name (accuracy, r1, dapo, cosine) or a JSON object.",
    )

    # --- trainer endpoints ---------------------------------------------
    trainer_think: str = Field(
        "auto",
        description="Default think mode of /get_reward and /slime/reward (query parameter `think` overrides): "
        "auto (a prompt that opened <think> makes the response thinking until </think>), open, strip, required, ignore.",
    )
    tokenizer: str | None = Field(
        None,
        description="Local tokenizer (a tokenizer.json file or a directory holding one) for token lengths on the "
        "trainer endpoints, which receive no token counts. Unset: lengths are counted in words.",
    )
    tokenizer_dir: Path | None = Field(
        None,
        description="Directory of local tokenizers a trainer request may name with `?tokenizer=<name>` (no downloads).",
    )

    @field_validator("trainer_think")
    @classmethod
    def _valid_think(cls, v: str) -> str:
        from verirl.labels import THINK_MODES

        if v not in THINK_MODES:
            raise ValueError(f"VERIRL_TRAINER_THINK must be one of {', '.join(THINK_MODES)}")
        return v

    @field_validator("default_reward")
    @classmethod
    def _valid_reward(cls, v: str) -> str:
        from verirl.errors import InvalidInput
        from verirl.rewards import parse_spec

        try:
            parse_spec(v)
        except InvalidInput as exc:
            raise ValueError(f"VERIRL_DEFAULT_REWARD: {exc}") from None
        return v

    @property
    def reward_spec(self) -> dict:
        """The default spec, parsed once (cached by its text)."""
        from verirl.rewards import parse_spec

        return parse_spec(self.default_reward)

    @field_validator("worker_name")
    @classmethod
    def _valid_worker_name(cls, v: str) -> str:
        try:
            name = v.format(hostname="h", pid=1)
        except (KeyError, IndexError, ValueError):
            raise ValueError("may use only the fields {hostname} and {pid}") from None
        if not name.strip() or any(c.isspace() for c in name):
            raise ValueError("must be a non-empty name without spaces")
        return v

    @field_validator("api_keys")
    @classmethod
    def _no_placeholder_keys(cls, v: str) -> str:
        for key in (k.strip() for k in v.split(",") if k.strip()):
            if key.lower() in {"changeme", "change-me", "secret", "xxx", "your-key-here"} or len(key) < 8:
                raise ValueError("holds a placeholder or a key under 8 characters (keys are never shown)")
        return v

    @property
    def api_key_list(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]

    @property
    def mode(self) -> str:
        return "distributed" if self.redis_url else "embedded"


    def check_serving(self) -> None:
        """Refuse to serve an unauthenticated API on a non-loopback address."""
        if self.api_key_list or self.allow_no_auth or is_loopback(self.host):
            return
        hint = (
            " VERIRL_API_KEY is set, but that is the clients' variable: the server reads VERIRL_API_KEYS."
            if os.environ.get("VERIRL_API_KEY")
            else ""
        )
        raise SettingsError(
            f"refusing to serve on {self.host} without VERIRL_API_KEYS: anyone who can reach it could use it."
            f"{hint} Set VERIRL_API_KEYS (comma-separated, 8+ characters each), bind 127.0.0.1, or set"
            " VERIRL_ALLOW_NO_AUTH=1 behind your own auth proxy."
        )

    def auth_hint(self) -> str | None:
        """A warning for a server started with only the clients' VERIRL_API_KEY set."""
        if not self.api_key_list and os.environ.get("VERIRL_API_KEY"):
            return (
                "VERIRL_API_KEY is set but VERIRL_API_KEYS is not: the server reads VERIRL_API_KEYS "
                "(VERIRL_API_KEY is what clients send), so this server requires no key"
            )
        return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _env_name(field: str) -> str:
    if field.isupper():  # an alias (REDIS_URL) is already the variable's name
        return field
    return "REDIS_URL" if field == "redis_url" else f"VERIRL_{field.upper()}"


def _clean_error(exc: ValidationError) -> SettingsError:
    """One line per bad setting, naming the variable; never the value (it may be a key)."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        field = str(err["loc"][0]) if err["loc"] else "?"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{_env_name(field)}: {msg}")
    return SettingsError("invalid settings: " + "; ".join(lines))


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and ``.env``), or :class:`SettingsError` naming each bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise _clean_error(exc) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def redis_options(asyncio: bool = False, socket_timeout: float = 2.5) -> dict[str, Any]:
    """Redis clients (the API, the registry, the workers) that ride out a Redis restart: reconnect
    and retry with backoff (about 3.5 s in all), health-check idle connections.

    ``socket_timeout`` bounds every command (above the 1 s result waits), so a paused or
    partitioned Redis gives an error and a 503, never a hung request; a timeout is not
    retried (the server is there but stalled; retrying would only pile on). RQ raises the
    timeout of a worker's connection to cover its blocking dequeue."""
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError

    if asyncio:
        from redis.asyncio.retry import Retry
    else:
        from redis.retry import Retry
    return {
        "retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), 6),
        "retry_on_error": [ConnectionError],
        "health_check_interval": 15,
        "socket_connect_timeout": 2,
        "socket_timeout": socket_timeout,
    }


def probe_options() -> dict[str, Any]:
    """A client for health probes: one try, half a second, no retries (/readyz answers within 1 s)."""
    return {"socket_connect_timeout": 0.5, "socket_timeout": 0.5, "retry_on_timeout": False, "retry": None}


def redis_refusal(url: str, timeout_s: float = 3.0) -> str | None:
    """Ask Redis once; a message when it *refuses* us (a configuration error: wrong or missing
    password, an ACL, protected mode), None when it answers or does not answer at all (an
    outage: the API serves 503s with Retry-After and the worker retries until it is back)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, retry=None,
                                  retry_on_timeout=False)
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        return (f"Redis refused authentication ({exc}): check the password (and user) in REDIS_URL, "
                "e.g. redis://:PASSWORD@host:6379/0")
    except redis.ResponseError as exc:
        text = str(exc)
        if "NOAUTH" in text or "WRONGPASS" in text or "AUTH" in text:
            return f"Redis refused authentication ({text}): set the password in REDIS_URL, e.g. redis://:PASSWORD@host:6379/0"
        if "DENIED" in text or "protected mode" in text:
            return (f"Redis refused the connection ({text[:160]}): it runs in protected mode; give it a password "
                    "(requirepass) and put it in REDIS_URL, or bind it to the network the API and workers use")
        if "NOPERM" in text:
            return f"Redis refused a command ({text}): the user in REDIS_URL lacks permissions"
        return None
    except redis.ConnectionError as exc:
        text = str(exc)
        if "DENIED" in text or "protected mode" in text:
            return (f"Redis refused the connection ({text[:160]}): it runs in protected mode; give it a password "
                    "(requirepass) and put it in REDIS_URL, or bind it to the network the API and workers use")
        return None
    except redis.RedisError:
        return None
    finally:
        client.close()
    return None
