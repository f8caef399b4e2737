#!/usr/bin/env bash
# Debian's `chromium`: the headless browser tests/service/demo drives through Playwright (which comes from PyPI
# with the test extras and never downloads a browser).
exec bash "$(dirname "$0")/ensure-tool.sh" /usr/bin/chromium "the demo page's browser test" chromium
