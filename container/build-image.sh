#!/usr/bin/env bash
# Builds the project's Dockerfile with podman on a machine that reaches no image registry,
# and whose containers cannot verify PyPI's TLS: the base image comes from base-image.sh, and
# the build's `pip install .` finds every wheel it needs (dependencies and setuptools for the
# build) in a wheelhouse downloaded here on the host, mounted into the build with a pip.conf
# that points pip at it. The build runs with no network at all, in Docker's image format
# (OCI's has no HEALTHCHECK). The Dockerfile is unchanged for Docker users: only its
# BASE_IMAGE build argument is set here.
#
#   container/build-image.sh [TAG]     # default een-exporter:local, the compose file's image
#
# Uses $PYTHON (default python3) with pip to fill the wheelhouse, cached under
# $EEN_CACHE_DIR (default ~/.cache/een-exporter) by the requirements it holds.
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${1:-een-exporter:local}"
python="${PYTHON:-python3}"
cache_dir="${EEN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/een-exporter}"
# The same settings as the issue's podman: runc, and limits the sandbox's own fit under.
limits=(--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

log() { echo "build-image: $*" >&2; }

# What `pip install .` needs: the build backend and the project's dependencies.
mapfile -t requirements < <("$python" - <<'EOF'
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))
print(*project["build-system"]["requires"], *project["project"]["dependencies"], sep="\n")
EOF
)
wheels="$cache_dir/wheels-$(printf '%s\n' "${requirements[@]}" | sha256sum | cut -c1-12)"

fill_wheelhouse() {
    log "downloading wheels for: ${requirements[*]}"
    # Wheels for the image's Python (CPython 3.11, glibc 2.36), whatever Python runs here.
    local arch platforms=()
    arch="$(uname -m)"
    for minor in $(seq 36 -1 17); do platforms+=(--platform "manylinux_2_${minor}_$arch"); done
    platforms+=(--platform "manylinux2014_$arch")
    rm -rf "$wheels.partial"
    "$python" -m pip download --quiet --disable-pip-version-check --dest "$wheels.partial" \
        --only-binary=:all: --implementation cp --python-version 3.11 \
        --abi cp311 --abi abi3 --abi none "${platforms[@]}" "${requirements[@]}"
    printf '[global]\nno-index = true\nfind-links = /wheels\n' >"$wheels.partial/pip.conf"
    mv "$wheels.partial" "$wheels"
}

[ -f "$wheels/pip.conf" ] || fill_wheelhouse
base="$(container/base-image.sh)"
log "building $tag on $base"
podman build "${limits[@]}" --pull=never --network=none --format=docker \
    --build-arg "BASE_IMAGE=$base" \
    --volume "$wheels:/wheels:ro" \
    --volume "$wheels/pip.conf:/etc/pip.conf:ro" \
    --tag "$tag" .
