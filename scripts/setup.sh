#!/bin/sh
# Installs what a fresh Debian 12 machine lacks to build and test segc:
# the C libraries of the design (libzip, OpenBLAS; and for later stages
# protobuf-c, libpng, libjpeg-turbo, libwebp) and pkg-config. Swift 6.3 is
# expected on PATH (/opt/swift on the project's machines).
set -eu
PKGS="libzip-dev libopenblas-dev libprotobuf-c-dev protobuf-c-compiler libpng-dev libjpeg62-turbo-dev libwebp-dev pkg-config"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "setup: installing$missing" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
command -v swift >/dev/null 2>&1 || { echo "setup: swift not found on PATH (install Swift 6.3, e.g. to /opt/swift)" >&2; exit 1; }
