#!/usr/bin/env bash
# Runs a TypeScript entry point (or a JS tool) with the project's Node.js.
source "$(dirname "${BASH_SOURCE[0]}")/node-env.sh"
exec "$MYELIN_NODE" "$@"
