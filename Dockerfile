# One image for the API and the workers. Plain Dockerfile syntax: builds with BuildKit and with
# the legacy builder (DOCKER_BUILDKIT=0), with `docker compose` v2 and `docker-compose` v1.
# The base image is named here only; a private mirror: --build-arg VERIRL_BASE_IMAGE=mirror/python:3.11-slim-bookworm
# (compose passes VERIRL_BASE_IMAGE from the environment or .env when it is set).
ARG VERIRL_BASE_IMAGE=python:3.11-slim-bookworm
FROM ${VERIRL_BASE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ gcc nodejs default-jdk-headless golang-go rustc redis-tools \
    libboost-dev libjavatuples-java node-lodash \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app

# Dependencies first, from pyproject.toml alone: a change to the code reuses this layer.
COPY pyproject.toml ./
COPY docker/requirements.py /tmp/requirements.py
RUN python /tmp/requirements.py > /tmp/requirements.txt && pip install --no-cache-dir -r /tmp/requirements.txt

# Then the code, installed without resolving anything again.
COPY README.md ./
COPY verirl ./verirl
COPY verirl_app ./verirl_app
COPY service ./service
COPY workers ./workers
COPY sandbox ./sandbox
RUN pip install --no-cache-dir --no-deps -e '.[server]'
ENV VERIRL_HOST=0.0.0.0 VERIRL_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000
CMD ["verirl", "serve"]
