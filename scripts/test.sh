#!/usr/bin/env bash
# The one test command (npm test): type check, lint, then every mocha suite
# (unit, integration against the real PostgreSQL and Redis, real clients).
# The last line printed is "N passed, N failed[, N skipped]".
source "$(dirname "${BASH_SOURCE[0]}")/node-env.sh"

echo "== type check (tsc --noEmit)"
"$MYELIN_NODE" node_modules/typescript/bin/tsc --noEmit -p . || { echo "0 passed, 1 failed"; exit 1; }
echo "== lint (eslint)"
"$MYELIN_NODE" node_modules/eslint/bin/eslint.js . || { echo "0 passed, 1 failed"; exit 1; }
# The Python client of the real-client tests (matrix-nio), the real Synapse of the federation
# interop tests and moto's S3 server, installed side by side (on a fresh clone both come from PyPI). Without one, its
# tests fail and say why.
bash "$(dirname "${BASH_SOURCE[0]}")/synapse-venv.sh" &
synapse_venv=$!
# moto's S3 server for the S3 media store test (spec/integration/media/s3-store.spec.ts).
bash "$(dirname "${BASH_SOURCE[0]}")/moto-venv.sh" || echo "myelin: no usable .venv-moto; the S3 media store test will fail"
bash "$(dirname "${BASH_SOURCE[0]}")/python-venv.sh" || echo "myelin: no usable .venv; the matrix-nio test will fail"
wait "$synapse_venv" || echo "myelin: no usable .venv-synapse; the Synapse interop tests will fail"
echo "== tests (mocha)"
exec "$MYELIN_NODE" node_modules/mocha/bin/mocha.js "$@"
