#!/bin/sh
# Chromium and ChromeDriver for the rendered-book tests (tests/test_book_html.py), part of `make test`.
# Present: nothing to do. Missing and running as root on Debian/Ubuntu: installed from the distribution's
# packages (apt-get). Otherwise: one message saying what to install, and a non-zero exit.
set -eu
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/bin/$1" ]; }
if have chromium && have chromedriver; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "make test: installing Chromium and its driver from Debian's packages (apt-get install chromium chromium-driver)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
  have chromium && have chromedriver && exit 0
  echo "make test: apt-get ran but chromium/chromedriver are still missing" >&2
  exit 1
fi
echo "make test: the rendered-book tests need Chromium and ChromeDriver, which are not installed." >&2
echo "  On Debian/Ubuntu, as root:  apt-get install chromium chromium-driver" >&2
echo "  (or run 'make test' as root and it installs them)." >&2
exit 1
