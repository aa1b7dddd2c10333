#!/usr/bin/env bash
# Creates the git-ignored .venv-moto with moto's S3-compatible server (PyPI,
# pinned in spec/integration/media/s3/requirements.txt), which the S3 media
# store test talks to. Idempotent and instant when nothing changed (see
# scripts/python-venv.sh). Called by scripts/test.sh.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/python-venv.sh" .venv-moto spec/integration/media/s3/requirements.txt "the S3 media store test" "import moto.server"
