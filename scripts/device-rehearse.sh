#!/usr/bin/env bash
# Rehearse scripts/device-check.sh on this CPU in a venv that looks like the GPU machine's Python: torch (the
# CPU build of this project's pin) and only those packages of the device image (deploy/device/image-packages.txt)
# that this project's .venv has, at the .venv's versions, and nothing of the service's own. device-check.sh then
# installs the carried wheels (cp311 builds here) with --no-index exactly as it will there, so a package missing
# from deploy/device/wheels.txt fails here, not on the device. Its budget is 720 s, not the device's 465: this
# CPU's 32×32 evaluations are slower than the device's whole train step.
#
#   bash scripts/device-wheels.sh --rehearse && bash scripts/device-rehearse.sh    # results in .device/rehearsal
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.device/rehearsal-venv
if [ ! -x "$VENV/bin/python3" ]; then
    python3 -m venv "$VENV"
    image=$(grep -v '^#' deploy/device/image-packages.txt | tr 'A-Z_' 'a-z-')
    # the .venv's versions of the image's packages (torch apart: its pin comes from pyproject.toml)
    .venv/bin/pip freeze --exclude-editable | tr 'A-Z_' 'a-z-' | grep -v '^torch==' |
        awk -F'==' 'NR==FNR {image[$1]; next} ($1 in image)' <(echo "$image") - >.device/rehearsal-image.txt
    # --no-deps: what the image lacks stays missing here too (torch's own needs are in the image)
    "$VENV/bin/pip" install --quiet --no-deps torch==2.13.0 -r .device/rehearsal-image.txt
fi
rm -rf .device/rehearsal && mkdir -p .device/rehearsal
start=$(date +%s)
OUT="$PWD/.device/rehearsal" PYTHON="$PWD/$VENV/bin/python3" DEVICE=cpu WHEELS=.device/wheels/cp311 \
    SITE=.device/rehearsal-site SHORT=1 BUDGET_S="${BUDGET_S:-720}" bash scripts/device-check.sh
echo "rehearsal took $(($(date +%s) - start)) s; results in .device/rehearsal"
