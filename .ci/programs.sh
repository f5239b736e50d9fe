#!/usr/bin/env bash
# Installs the programs the tests drive, when they are missing: a real
# headless Chromium for the HTML report and `script` for a real terminal
# (Debian packages, as root). Run by .ci/test before the tests, and by
# .ci/run in the background while cargo compiles. Exits 1 under CI=true
# when a program is missing and cannot be installed.
set -euo pipefail

# program -> the Debian package that provides it
declare -A needed=([chromium]=chromium [script]=bsdutils)
missing=()
for program in "${!needed[@]}"; do
  command -v "$program" >/dev/null 2>&1 || missing+=("${needed[$program]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} for the tests" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" fonts-dejavu-core >/dev/null
else
  echo "the tests need the Debian packages ${missing[*]}; install them (as root: apt-get install ${missing[*]})" >&2
  # Under CI a missing program fails the run here, before any test.
  if [ "${CI:-}" = true ]; then exit 1; fi
fi
