#!/usr/bin/env bash
# `make compose-check`: the Dockerfile builds with the legacy builder (no BuildKit-only syntax),
# and docker-compose.yml validates with every compose found here (`docker compose` v2,
# `docker-compose` v1). Needs no Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."

bad=$(grep -nE '^# *syntax=|<<-?['"'"'"]?[A-Za-z_]+|^RUN +--(mount|network|security)|^(COPY|ADD) +--(link|chmod|parents|exclude)' Dockerfile || true)
if [ -n "$bad" ]; then
    echo "compose-check: the Dockerfile uses BuildKit-only syntax (the legacy builder cannot build it):" >&2
    echo "$bad" >&2
    exit 1
fi
grep -qx '.venv' .dockerignore || { echo "compose-check: .dockerignore must exclude .venv" >&2; exit 1; }

# Compose refuses to start without keys: validate with a placeholder unless keys are set.
export VERIRL_API_KEYS="${VERIRL_API_KEYS:-compose-check-placeholder}"
checked=0
if docker compose version >/dev/null 2>&1; then
    docker compose -f docker-compose.yml config -q && echo "compose-check: docker compose (v2): ok"
    checked=1
fi
if command -v docker-compose >/dev/null 2>&1; then
    docker-compose -f docker-compose.yml config -q && echo "compose-check: docker-compose ($(docker-compose version --short 2>/dev/null || echo v1)): ok"
    checked=1
fi
if [ "$checked" -eq 0 ]; then
    echo "compose-check: neither \`docker compose\` (v2) nor \`docker-compose\` (v1) is installed; install one (apt-get install docker-compose)" >&2
    exit 1
fi
