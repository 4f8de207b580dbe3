"""Every setting verirl reads from the environment, in one place.

Settings come from environment variables with the prefix ``VERIRL_`` (plus the
conventional ``REDIS_URL``) or from a ``.env`` file in the working directory.
Nothing else in the code base reads ``os.environ`` for configuration; call
:func:`get_settings` (cached) instead of building a settings object at import.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    # --- dispatch ----------------------------------------------------------
    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("REDIS_URL", "VERIRL_REDIS_URL"),
        description="Redis URL. Set: distributed mode (RQ workers). Unset: embedded mode.",
    )
    workers: int = Field(
        default_factory=_default_workers,
        ge=1,
        le=256,
        description="Embedded mode: verifier processes in the API. Worker: verifier processes per `verirl worker`.",
    )
    queue: str = Field("verirl", description="RQ queue name used in distributed mode.")
    chunk_size: int = Field(32, ge=1, le=4096, description="Items per RQ job in distributed mode.")
    worker_name: str | None = Field(
        None,
        description="`verirl worker`: a stable name (default host-pid); a restart under it takes over its stale registration.",
    )
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

    @field_validator("api_keys")
    @classmethod
    def _no_placeholder_keys(cls, v: str) -> str:
        for key in (k.strip() for k in v.split(",") if k.strip()):
            if key.lower() in {"changeme", "change-me", "secret", "xxx", "your-key-here"} or len(key) < 8:
                raise ValueError("VERIRL_API_KEYS holds a placeholder or a key under 8 characters")
        return v

    @property
    def api_key_list(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]

    @property
    def mode(self) -> str:
        return "distributed" if self.redis_url else "embedded"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
