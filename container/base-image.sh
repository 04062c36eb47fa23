#!/usr/bin/env bash
# Builds the base image the Dockerfile runs on, for machines that can run podman but reach no
# image registry: a Debian bookworm root filesystem made by mmdebstrap from Debian's packages,
# with Debian's Python 3.11 laid out the way python:3.11-slim-bookworm lays out its own
# (`python`, `python3`, `pip` in /usr/local/bin, packages in /usr/local/lib/python3.11/
# site-packages: a virtual environment at /usr/local), imported with `podman import`.
#
#   container/base-image.sh            # prints the image name; builds only what is missing
#   podman build --build-arg BASE_IMAGE="$(container/base-image.sh)" -t een-exporter:local .
#
# The root filesystem is cached outside the repository ($EEN_CACHE_DIR, default
# ~/.cache/een-exporter) under a key made from the recipe below, so a second run only imports
# it, or does nothing when podman already holds the image of that key.
# Needs: root, mmdebstrap, podman (apt-get install mmdebstrap podman runc).
set -euo pipefail

IMAGE_NAME=localhost/een-python
SUITE=bookworm
MIRRORS=(
    "deb http://deb.debian.org/debian $SUITE main"
    "deb http://deb.debian.org/debian $SUITE-updates main"
    "deb http://deb.debian.org/debian-security $SUITE-security main"
)
# python3-venv brings ensurepip's pip and setuptools wheels; the others are what the slim
# image carries besides Python (CA certificates, /etc/services, time zones).
PACKAGES=python3,python3-venv,ca-certificates,netbase,tzdata
# Like the slim images: no manuals, docs (but their licences) or translations.
DPKG_OPTS=(
    --dpkgopt='path-exclude=/usr/share/man/*'
    --dpkgopt='path-exclude=/usr/share/info/*'
    --dpkgopt='path-exclude=/usr/share/locale/*'
    --dpkgopt='path-exclude=/usr/share/doc/*'
    --dpkgopt='path-include=/usr/share/doc/*/copyright'
)
# merged-usr: usr-is-merged instead of usrmerge, which would pull in the whole of perl.
# The venv at /usr/local is the image's Python: its pip installs into site-packages there,
# as on python:3.11-slim-bookworm, and Debian's own python3 stays untouched.
HOOKS=(
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
    --customize-hook='chroot "$1" python3 -m venv /usr/local'
    --customize-hook='chroot "$1" /usr/local/bin/python -c "import ssl, sqlite3, venv"'
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin'
)
# The slim image's environment and command.
CHANGES=(
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin'
    --change 'ENV LANG=C.UTF-8'
    --change 'CMD ["python3"]'
)

cache_dir="${EEN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/een-exporter}/base-image"
# The key changes with anything that goes into the image, and only then.
key="$(printf '%s\n' "$SUITE" "${MIRRORS[@]}" "$PACKAGES" "${DPKG_OPTS[@]}" "${HOOKS[@]}" \
    "${CHANGES[@]}" | sha256sum | cut -c1-12)"
tag="3.11-$SUITE-$key"
image="$IMAGE_NAME:$tag"
rootfs="$cache_dir/rootfs-$key.tar"

log() { echo "base-image: $*" >&2; }

build_rootfs() {
    log "building the $SUITE root filesystem with mmdebstrap (a minute or two)"
    mkdir -p "$cache_dir"
    local partial="$rootfs.partial" output="$cache_dir/mmdebstrap.log"
    # The hooks' apt and dpkg talk a lot: their output is shown only when something fails.
    if ! mmdebstrap --variant=minbase --mode=root --format=tar --quiet \
        --include="$PACKAGES" "${DPKG_OPTS[@]}" "${HOOKS[@]}" \
        "$SUITE" "$partial" "${MIRRORS[@]}" >"$output" 2>&1; then
        tail -n 40 "$output" >&2
        return 1
    fi
    mv "$partial" "$rootfs"
    # Older root filesystems of this script are of no further use.
    find "$cache_dir" -name 'rootfs-*.tar' ! -name "rootfs-$key.tar" -delete
}

import_rootfs() {
    log "importing $rootfs as $image"
    podman import --quiet "${CHANGES[@]}" \
        --message "Debian $SUITE (mmdebstrap) with Python 3.11 at /usr/local, by $0" \
        "$rootfs" "$image" >/dev/null
}

if ! podman image exists "$image"; then
    if [ ! -s "$rootfs" ]; then build_rootfs; fi
    import_rootfs
fi
echo "$image"
