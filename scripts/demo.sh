#!/usr/bin/env bash
# The README's first command: installs the npm dependencies, builds, and runs the main job on its
# embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
check_node
ensure_npm_deps
say "build"
npx turbo run build --output-logs=errors-only
for tool in dnslog wipe mx-check relay-audit; do
  say "$tool --help"
  npx --no-install "$tool" --help
done
