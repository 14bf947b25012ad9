#!/bin/sh
# Installs etcd (Debian package `etcd-server`, binary /usr/bin/etcd) for `pharos-bench compare`.
# Does nothing when etcd is already on the PATH. The package's own service is not used: the
# benchmark starts its own three members on loopback with data dirs in a temp dir.
set -eu
if command -v etcd >/dev/null 2>&1; then
    etcd --version
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends etcd-server
# The package may start a system etcd on 2379/2380; the benchmark's ports are elsewhere, but stop it anyway.
$SUDO systemctl stop etcd 2>/dev/null || true
etcd --version
