#!/usr/bin/env bash
# Installs, with apt-get, the Debian packages named in the given list files that are
# not installed yet. A package whose command is already on PATH counts as present
# (npm comes bundled with NodeSource's nodejs, which conflicts with Debian's npm).
set -euo pipefail
missing=""
for p in $(cat "$@"); do
  command -v "$p" >/dev/null 2>&1 && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -n "$missing" ] || exit 0
echo "apt-install:$missing"
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq $missing >/dev/null
