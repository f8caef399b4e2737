#!/usr/bin/env bash
# Regenerate the clients' generated parts from openapi/openapi.json (run `ebmm openapi` first when the API changed):
#   clients/python/src/ebmm_client/models.py   dataclasses (datamodel-code-generator, pinned in pyproject.toml)
#   clients/typescript/src/schema.ts           types (openapi-typescript, pinned in package-lock.json)
# With OUT_DIR both files go there instead (tests/clients/test_drift.py compares them with the committed ones);
# OPENAPI_SPEC (an absolute path) replaces openapi/openapi.json.
#
#   bash scripts/generate-clients.sh [OUT_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-}
python_out=${out:+$out/models.py}
ts_out=${out:+$out/schema.ts}
spec=${OPENAPI_SPEC:-$root/openapi/openapi.json}
cd "$root"
"${PYTHON:-$root/.venv/bin/python}" -m datamodel_code_generator \
    --input "$spec" --input-file-type openapi --output-model-type dataclasses.dataclass \
    --target-python-version 3.11 --keyword-only --use-standard-collections --use-union-operator \
    --use-schema-description --disable-timestamp --formatters ruff-check ruff-format \
    --output "${python_out:-clients/python/src/ebmm_client/models.py}"
bash scripts/ensure-ts-client.sh
(cd clients/typescript && OPENAPI_SPEC="$spec" SCHEMA_OUT="${ts_out:-src/schema.ts}" npm run --silent generate)
