#!/usr/bin/env bash
# Fetches Prometheus 3 (with promtool) and Alertmanager from Debian unstable, whose binaries
# run on bookworm as they are, for the tests that prove the stack on Prometheus 3 too
# (tests/e2e and tests/stack run once per release; see tests/stack/tools.py). Nothing is
# installed: apt works from a temporary sources list and lists directory, and `dpkg-deb -x`
# unpacks the packages into the cache directory, which the tests find by the same default.
#
#   bash .ci/prometheus3.sh     # prints the directory; fetches only when it is missing
#
# Directory: $EEN_PROMETHEUS3_DIR, default ~/.cache/een-exporter/prometheus3 (under
# $EEN_CACHE_DIR or $XDG_CACHE_HOME when set). Its usr/bin holds prometheus, promtool,
# prometheus-alertmanager and amtool. Delete it to fetch what unstable carries now.
set -euo pipefail

SUITE=sid
PACKAGES=(prometheus promtool prometheus-alertmanager)
BINARIES=(prometheus promtool prometheus-alertmanager amtool)

cache="${EEN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/een-exporter}"
dest="${EEN_PROMETHEUS3_DIR:-$cache/prometheus3}"

complete() {
    local binary
    for binary in "${BINARIES[@]}"; do [ -x "$1/usr/bin/$binary" ] || return 1; done
}

if complete "$dest"; then
    echo "$dest"
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
    "http://deb.debian.org/debian $SUITE main" >"$work/sources.list"
# Only this temporary list: the machine's own apt state is neither read nor changed.
apt_options=(
    -o "Dir::Etc::SourceList=$work/sources.list"
    -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$work/lists"
    -o "Dir::Cache=$work/cache"
    -o Debug::NoLocking=1
    -o APT::Sandbox::User=root
)
echo "prometheus3: fetching ${PACKAGES[*]} from Debian $SUITE" >&2
apt-get "${apt_options[@]}" update -qq
(cd "$work/debs" && apt-get "${apt_options[@]}" download -qq "${PACKAGES[@]}")

rm -rf "$dest.partial"
mkdir -p "$dest.partial"
for deb in "$work"/debs/*.deb; do
    dpkg-deb -x "$deb" "$dest.partial"
    dpkg-deb --show --showformat='${Package} ${Version}\n' "$deb" >>"$dest.partial/VERSIONS"
done
complete "$dest.partial" || { echo "prometheus3: a binary is missing" >&2; exit 1; }
rm -rf "$dest"
mv "$dest.partial" "$dest"
cat "$dest/VERSIONS" >&2
echo "prometheus3: fetched and unpacked in $SECONDS s" >&2
echo "$dest"
