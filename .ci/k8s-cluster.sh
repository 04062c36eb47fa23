#!/usr/bin/env bash
# A one-node Kubernetes for tests/cluster: etcd and the Kubernetes control plane and kubelet,
# built once with the machine's Go from the Go module proxy and cached outside the clone,
# keyed by version (only the first run on a machine pays for them), plus the node's runtime
# from Debian (containerd, runc, the CNI plugins, iptables).
#   - etcd $ETCD_VERSION from go.etcd.io/etcd/server/v3;
#   - kube-apiserver, kube-controller-manager, kube-scheduler, kubelet $KUBE_VERSION from
#     k8s.io/kubernetes: a throwaway module requires it and replaces every k8s.io staging
#     module that its go.mod points at ./staging with the published v0.<minor>.<patch>.
# Builds run one at a time under `nice`, with EEN_BUILD_PROCS (default 2) parallel compile
# jobs, so a shared machine is not starved. Each binary is built into a temporary name and
# renamed when complete, so an interrupted run leaves nothing half-built behind.
# From empty Go caches on a 2-core machine: about 9 minutes (README, Kubernetes, Proof).
# Usage: bash .ci/k8s-cluster.sh; prints the bin directory on stdout. The tests find it in
# $EEN_TOOLS_CACHE/cluster/... themselves (tests/cluster/tools.py).
set -euo pipefail

ETCD_VERSION=v3.6.16
KUBE_VERSION=v1.34.4
APT_PACKAGES=(containerd containernetworking-plugins runc iptables iproute2 conntrack
              ethtool socat util-linux mount openssl)

cache="${EEN_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/een-exporter}"
bin="$cache/cluster/kube-$KUBE_VERSION-etcd-$ETCD_VERSION/bin"
procs="${EEN_BUILD_PROCS:-2}"
log() { echo "k8s-cluster: $*" >&2; }

install_packages() {
    local missing=() package
    for package in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$package")
    done
    ((${#missing[@]})) || return 0
    if [[ $(id -u) != 0 ]]; then
        log "not root: cannot install ${missing[*]} (the cluster tests will skip)"
        return 0
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d may forbid starting the daemon: the tests start their own containerd.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

quiet() {  # runs a command, showing its output only if it fails
    local out
    out="$(mktemp)"
    if ! "$@" >"$out" 2>&1; then
        cat "$out" >&2
        rm -f "$out"
        return 1
    fi
    rm -f "$out"
}

timed_build() {  # name, then the command
    local name="$1" start
    shift
    start=$(date +%s)
    log "building $name (minutes the first time)"
    nice -n 10 env GOMAXPROCS="$procs" GOFLAGS=-buildvcs=false "$@"
    log "built $name in $(($(date +%s) - start)) s"
}

build_etcd() {
    [[ -x "$bin/etcd" ]] && return 0
    local work
    work="$(mktemp -d)"
    (
        cd "$work"
        quiet go mod init een-exporter.local/etcd-build
        quiet timeout 1200 go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
        timed_build etcd timeout 1500 go build -p "$procs" -trimpath -o "$bin/.etcd.tmp" \
            go.etcd.io/etcd/server/v3
    )
    rm -rf "$work"
    mv "$bin/.etcd.tmp" "$bin/etcd"
}

kube_module() {  # writes go.mod for a module that builds k8s.io/kubernetes $KUBE_VERSION
    local gomod staging minor
    gomod="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" |
             python3 -c 'import json, sys; print(json.load(sys.stdin)["GoMod"])')"
    staging="$(awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "$gomod" | sort -u)"
    minor="v0.${KUBE_VERSION#v1.}"
    {
        echo "module een-exporter.local/kube-build"
        echo
        echo "go $(awk '$1 == "go" { print $2; exit }' "$gomod")"
        echo
        echo "require k8s.io/kubernetes $KUBE_VERSION"
        echo
        for module in $staging; do echo "replace $module => $module $minor"; done
    } >go.mod
}

build_kube() {
    local missing=() component work ldflags pkg
    for component in kube-apiserver kube-controller-manager kube-scheduler kubelet; do
        [[ -x "$bin/$component" ]] || missing+=("$component")
    done
    ((${#missing[@]})) || return 0
    work="$(mktemp -d)"
    # The version the binaries report (helm's kubeVersion checks, the node's kubeletVersion).
    ldflags="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitTreeState=clean"
        ldflags+=" -X $pkg.gitMajor=1 -X $pkg.gitMinor=$(cut -d. -f2 <<<"$KUBE_VERSION")"
    done
    (
        cd "$work"
        kube_module
        for component in "${missing[@]}"; do
            quiet timeout 1200 go get "k8s.io/kubernetes/cmd/$component@$KUBE_VERSION"
        done
        for component in "${missing[@]}"; do
            timed_build "$component" timeout 1800 go build -p "$procs" -trimpath \
                -ldflags "$ldflags" -o "$bin/.$component.tmp" "k8s.io/kubernetes/cmd/$component"
            mv "$bin/.$component.tmp" "$bin/$component"
        done
    )
    rm -rf "$work"
}

install_packages
if ! command -v go >/dev/null; then
    log "no go on PATH: cannot build the cluster (the cluster tests will skip)"
    exit 0
fi
mkdir -p "$bin"
total_start=$(date +%s)
build_etcd
build_kube
log "etcd $ETCD_VERSION and Kubernetes $KUBE_VERSION in $bin ($(($(date +%s) - total_start)) s)"
echo "$bin"
