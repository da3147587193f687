#!/usr/bin/env bash
# Installs the Debian packages the tests need (browser, lab) when they are missing.
set -euo pipefail
packages=(chromium debootstrap systemd-container iptables iproute2 pebble openssh-client)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: not root, cannot install ${missing[*]}; browser and lab tests will skip" >&2
  exit 0
fi
echo "system-deps: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
