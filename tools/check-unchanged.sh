#!/usr/bin/env bash
# Usage: check-unchanged.sh "WHAT" DIR COMMAND...
# Runs COMMAND and fails, naming the files, if it changed anything under DIR.
# `make lint` uses it to prove that notebooks are clean and that the package matches them.
set -euo pipefail
what=$1 dir=$2
shift 2
fingerprint() { find "$dir" -type f \( -name '*.ipynb' -o -name '*.py' \) -not -path '*/.ipynb_checkpoints/*' -print0 | sort -z | xargs -0 md5sum; }
before=$(fingerprint)
"$@" >/dev/null
changed=$(diff <(echo "$before") <(fingerprint) | awk '/^[<>]/ {print $3}' | sort -u || true)
if [ -n "$changed" ]; then
  echo "FAILED: $what. '$*' changed:" >&2
  echo "$changed" | sed 's/^/  /' >&2
  echo "Review the change and commit it." >&2
  exit 1
fi
echo "ok: $what"
