#!/usr/bin/env bash
# The one test command (npm test): type check, lint, then every mocha suite
# (unit, integration against the real PostgreSQL and Redis, real clients).
# The last line printed is "N passed, N failed[, N skipped]".
source "$(dirname "${BASH_SOURCE[0]}")/node-env.sh"

echo "== type check (tsc --noEmit)"
"$MYELIN_NODE" node_modules/typescript/bin/tsc --noEmit -p . || { echo "0 passed, 1 failed"; exit 1; }
echo "== lint (eslint)"
"$MYELIN_NODE" node_modules/eslint/bin/eslint.js . || { echo "0 passed, 1 failed"; exit 1; }
echo "== tests (mocha)"
exec "$MYELIN_NODE" node_modules/mocha/bin/mocha.js "$@"
