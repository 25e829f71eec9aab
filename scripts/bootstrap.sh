#!/usr/bin/env bash
# Installs everything this project needs on a fresh machine, and nothing twice:
#  - Debian packages for the real filesystem tools the tests and the demo use;
#  - the npm dependencies from the lockfile, Node.js 22 among them (package "node").
# Safe to run again: each step checks whether it is needed first.
set -euo pipefail
cd "$(dirname "$0")/.."

# sleuthkit (fls/icat) is the independent oracle for NTFS/FAT/exFAT catalogues; lvm2 writes real LVM2
# metadata for the RHEL-like test disks; exfatprogs makes exFAT volumes; exfat-fuse mounts them to
# populate test images (these kernels have no exfat module); debootstrap gives a real Debian root tree
# as test data.
DEBIAN_PACKAGES=(e2fsprogs gdisk fdisk xfsprogs ntfs-3g mtools dosfstools exfatprogs exfat-fuse sleuthkit lvm2 debootstrap)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# moto 5.x is part of the machine image and PyPI is out of reach from it, so check, do not install.
if ! python3 -c 'import moto' 2>/dev/null; then
  echo "bootstrap: python3 cannot import moto; the local stack needs moto 5.x (preinstalled on these machines)" >&2
  exit 1
fi

# npm ci only when the lockfile changed since the last install.
stamp=node_modules/.bootstrap-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "bootstrap: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
echo "bootstrap: ready (node $(node_modules/.bin/node --version))"
