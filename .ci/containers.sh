#!/usr/bin/env bash
# What the container tests (tests/container) need: podman with runc, netavark and
# aardvark-dns (compose services find each other by name), iptables (netavark runs it to set
# up every network; podman only *suggests* it, so a new machine lacks it), mmdebstrap; then
# the base image, made once and cached (container/base-image.sh). Prints how long each step
# took.
set -euo pipefail
cd "$(dirname "$0")/.."

step() {
    local started=$SECONDS
    "$@"
    echo "containers: $* took $((SECONDS - started)) s" >&2
}

PACKAGES=(podman runc netavark aardvark-dns iptables mmdebstrap)

install_packages() {
    local package
    for package in "${PACKAGES[@]}"; do
        if [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" != "install ok installed" ]; then
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq
            apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
            return
        fi
    done
}

step install_packages
step container/base-image.sh >/dev/null
