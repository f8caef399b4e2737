#!/usr/bin/env bash
# Install the TypeScript client's pinned npm packages (clients/typescript/package-lock.json) when they are
# missing or older than the lock file. Needs node and npm (the tests that use them skip without).
set -euo pipefail
cd "$(dirname "$0")/../clients/typescript"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
