#!/usr/bin/env bash
# Makes this machine able to load TorchSharp 0.107's native library, which needs libstdc++ with GLIBCXX_3.4.32
# (GCC 13+). Debian 12 ships GCC 12's libstdc++, so on Debian 12 we take libstdc++6 from Debian 13 ("trixie"),
# pinned low so that nothing else is upgraded from trixie by accident. Does nothing where the symbol is present.
set -euo pipefail

has_glibcxx() {
  local lib
  for lib in /usr/lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib/aarch64-linux-gnu/libstdc++.so.6 /usr/lib64/libstdc++.so.6; do
    [ -f "$lib" ] && grep -aq 'GLIBCXX_3\.4\.32' "$lib" && return 0
  done
  return 1
}

if has_glibcxx; then
  echo "setup-native: libstdc++ already provides GLIBCXX_3.4.32"
  exit 0
fi

if ! grep -qs 'VERSION_CODENAME=bookworm' /etc/os-release; then
  echo "setup-native: libstdc++ lacks GLIBCXX_3.4.32 and this is not Debian 12; install libstdc++ from GCC 13 or newer" >&2
  exit 1
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

echo "setup-native: installing libstdc++6 from Debian 13 (trixie) for GLIBCXX_3.4.32"
$SUDO tee /etc/apt/sources.list.d/trixie.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
$SUDO tee /etc/apt/preferences.d/trixie-pin >/dev/null <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t trixie libstdc++6 >/dev/null
has_glibcxx || { echo "setup-native: libstdc++6 from trixie did not provide GLIBCXX_3.4.32" >&2; exit 1; }
echo "setup-native: done"
