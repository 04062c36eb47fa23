# The EEN exporter image; the compose stack also runs the simulator (`een-sim`) from it.
# BASE_IMAGE is there for machines that reach no registry (container/build-image.sh).
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter/ exporter/
RUN pip install --no-cache-dir --root-user-action=ignore --prefix=/install .

FROM ${BASE_IMAGE}
# No per-thread malloc cache: with one stream thread per account, each thread's cache filled
# up over an hour of reconnects and re-logins (docs/performance.md, "Soak").
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GLIBC_TUNABLES=glibc.malloc.tcache_count=0
COPY --from=build /install /usr/local
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin een \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/een-exporter
# API v3's token file (EEN_TOKEN_FILE) goes here; a volume mounted here inherits the owner.
USER 10001:10001
EXPOSE 9877
# slim has no curl: ask /healthz with Python, on the port of EEN_LISTEN_ADDRESS (default :9877).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('EEN_LISTEN_ADDRESS', ':9877').rpartition(':')[2]; sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["een-exporter"]
