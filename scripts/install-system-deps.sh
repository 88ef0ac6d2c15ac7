#!/usr/bin/env bash
# Debian packages the project needs outside Python: WeasyPrint's native libraries
# (Pango, HarfBuzz, fontconfig), the font the invoice PDF is set in, and poppler-utils
# (pdftoppm, pdftotext) to look at rendered PDFs, and Debian's chromium for the browser
# tests (Playwright drives it; it never downloads a browser of its own).
#
# libharfbuzz-subset0 matters for speed, not just correctness: WeasyPrint subsets
# embedded fonts with it, and without it falls back to fontTools in Python (measured
# 59 ms per invoice page with it, 379 ms without).
#
# Idempotent: installs only what `dpkg -s` reports missing, and runs `apt-get update`
# once, only when something is missing. Without root it warns and changes nothing.
set -euo pipefail

PACKAGES=(
  libpango-1.0-0
  libpangoft2-1.0-0
  libharfbuzz0b
  libharfbuzz-subset0
  libfontconfig1
  libffi8
  shared-mime-info
  fonts-dejavu-core
  poppler-utils
  chromium
)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg -s "$package" >/dev/null 2>&1; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: not root, skipping; missing: ${missing[*]}" >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-system-deps: installing ${missing[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
