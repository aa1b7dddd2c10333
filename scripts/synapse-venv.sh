#!/usr/bin/env bash
# Creates the git-ignored virtualenv .venv-synapse for the real Synapse that
# the federation interop tests run beside our server (spec/support/synapse.ts),
# with the pinned packages of spec/interop/synapse/requirements.txt, from PyPI,
# through scripts/python-venv.sh (idempotent, instant when nothing changed,
# locked against concurrent runs). Called by scripts/test.sh. Nothing of
# Synapse is committed.
exec bash "$(dirname "${BASH_SOURCE[0]}")/python-venv.sh" .venv-synapse spec/interop/synapse/requirements.txt \
  "the Synapse interop tests" "import synapse.app.homeserver, psycopg2"
