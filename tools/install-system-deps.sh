#!/bin/sh
# Install the Debian packages kioskd's Python dependencies need, only when missing.
#   libzbar0        - shared library pyzbar loads to decode QR codes
#   libpcsclite-dev - PC/SC headers pyscard builds against (eID readers)
#   swig            - pyscard's build tool
#   espeak-ng       - offline speech synthesis for the spoken prompts
#   chromium        - headless browser for the staff console test and tools/console-screenshots (Playwright)
#   fonts-dejavu-core - the console's font, so headless chromium renders text without recommends
#   pcscd           - the PC/SC daemon eID card readers are reached through
#   vsmartcard-vpcd - a virtual PC/SC reader: the eID tests run the real pcscd path with an emulated card
set -eu
PACKAGES="libzbar0 libpcsclite-dev swig espeak-ng chromium fonts-dejavu-core pcscd vsmartcard-vpcd"
missing=""
for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done
[ -z "$missing" ] && exit 0
echo "kioskd: installing Debian packages:$missing"
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "kioskd: missing Debian packages:$missing" >&2
    echo "kioskd: cannot install them (not root, no password-less sudo). Run:" >&2
    echo "    sudo apt-get install$missing" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "kioskd: apt-get not found; install these packages with your system's package manager:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || { echo "kioskd: apt-get update failed (no network to the Debian mirror?)" >&2; exit 1; }
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing || {
    echo "kioskd: could not install:$missing" >&2; exit 1; }
