# syntax=docker/dockerfile:1
# One image for the API and the workers.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ gcc nodejs default-jdk-headless golang-go rustc redis-tools \
    libboost-dev libjavatuples-java node-lodash \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app

# Dependencies first, from pyproject.toml alone: a change to the code reuses this layer.
COPY pyproject.toml ./
RUN python - <<'EOF' > /tmp/requirements.txt && pip install --no-cache-dir -r /tmp/requirements.txt
import re, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras, seen, out = project["optional-dependencies"], set(), list(project["dependencies"])
todo = ["server"]
while todo:
    extra = todo.pop()
    if extra in seen:
        continue
    seen.add(extra)
    for req in extras[extra]:
        own = re.fullmatch(r"verirl\[([\w,]+)\]", req)
        if own:
            todo += own.group(1).split(",")
        else:
            out.append(req)
print("\n".join(out))
EOF

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
