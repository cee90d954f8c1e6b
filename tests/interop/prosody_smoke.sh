#!/usr/bin/env bash
# Smoke test of the private Prosody instance used by the interop tests
# (scripts/prosody-start, -adduser, -stop): see server_smoke.sh for what it checks.
#   tests/interop/prosody_smoke.sh [-v]
# Exit status: 0 on success, 1 on failure, 77 when Prosody (or openssl, or
# /usr/bin/python3) is not installed.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/server_smoke.sh" prosody "$@"
