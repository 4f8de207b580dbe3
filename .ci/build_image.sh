#!/usr/bin/env bash
# CI: build the image with the legacy builder (DOCKER_BUILDKIT=0) when a Docker engine and the
# base image are at hand; otherwise say in one line why not, and succeed.
set -uo pipefail
cd "$(dirname "$0")/.."
base=$(sed -n 's/^ARG VERIRL_BASE_IMAGE=//p' Dockerfile)
base="${VERIRL_BASE_IMAGE:-$base}"
if ! command -v docker >/dev/null 2>&1; then
    echo "ci: image build skipped: no docker command"; exit 0
fi
if ! docker info >/dev/null 2>&1; then
    echo "ci: image build skipped: no Docker engine answers (start dockerd to build the image)"; exit 0
fi
if ! docker image inspect "$base" >/dev/null 2>&1 && ! timeout 120 docker pull -q "$base" >/dev/null 2>&1; then
    echo "ci: image build skipped: base image $base is neither local nor pullable (set VERIRL_BASE_IMAGE to a mirror)"; exit 0
fi
echo "ci: building the image with the legacy builder from $base"
DOCKER_BUILDKIT=0 docker build --build-arg "VERIRL_BASE_IMAGE=$base" -t verirl:ci .
