#!/usr/bin/env bash
# Installs Debian's `chromium` (the headless browser tests/service/demo drives through Playwright, which comes
# from PyPI with the test extras) when /usr/bin/chromium is missing and this is root on a machine with apt.
# Never fails the build: without it the browser test skips and says why.
set -u
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-browser: /usr/bin/chromium missing and cannot apt-get install chromium (not root or no apt)" >&2
    exit 0
fi
echo "ensure-browser: installing the Debian package chromium for the demo page's browser test" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
    echo "ensure-browser: apt-get install chromium failed; the demo page's browser test will skip" >&2
fi
exit 0
