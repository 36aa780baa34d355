#!/usr/bin/env bash
# Install the Debian/Ubuntu system libraries PySide6's Qt needs, if any are missing.
#   packaging/qt-system-libs.sh            offscreen set (tests, CI)
#   packaging/qt-system-libs.sh --window   plus the xcb platform plugin's (a real window)
# As root with apt-get it installs what is missing; otherwise it names the missing
# packages and exits 0, so a machine that has them some other way is not stopped.
set -euo pipefail
libs="libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0"
if [ "${1:-}" = "--window" ]; then
  libs="$libs libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libxkbcommon-x11-0"
fi
command -v dpkg >/dev/null || exit 0  # not Debian-like: nothing to check
missing=$(for p in $libs; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done | xargs)
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
else
  echo "Qt needs these system packages, which are missing: $missing" >&2
  echo "install them with: sudo apt-get install $missing" >&2
fi
