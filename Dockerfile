# One image for the API and the workers.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ gcc nodejs default-jdk-headless golang-go rustc redis-tools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY verirl ./verirl
COPY service ./service
COPY workers ./workers
COPY sandbox ./sandbox
RUN pip install --no-cache-dir -e '.[server]'
ENV VERIRL_HOST=0.0.0.0 VERIRL_DATA_DIR=/data
EXPOSE 8000
CMD ["verirl", "serve"]
