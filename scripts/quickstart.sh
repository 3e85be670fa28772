#!/usr/bin/env bash
# quickstart.sh: ward's main job on the embedded local store, no server needed.
# Builds ward, stores two demo secrets in your local store (~/.local/share/ward,
# encrypted to ~/.config/ward/identity.txt) unless they are there already, and
# runs a program with them. The program proves it got them without printing them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p bin
CGO_ENABLED=0 go build -tags urfave_cli_no_docs -o bin/ward .
ward=bin/ward
# The names first, whole: `grep -q` ends at its first match, and under
# pipefail the list cut short by it read as "not there" (a large store).
# On a fresh machine the store is not there yet, which the list says: no
# news here, the loop below makes it (a store elsewhere is still said).
names=$("$ward" local list 2> >(grep -v '^ward: the local store .* does not exist yet (create an entry' >&2 || true) | cut -f1)
for name in demo/api_token demo/db_password; do
  if ! grep -qx "$name" <<<"$names"; then
    head -c 18 /dev/urandom | base64 | "$ward" local set "$name"
    echo "stored a random $name in the local store"
  fi
done
"$ward" local list
"$ward" check -m examples/quickstart/ward.yaml
# The child expands the variables, not this script.
# shellcheck disable=SC2016
exec "$ward" run --log-level warn -m examples/quickstart/ward.yaml -- \
  sh -c 'echo "the child got API_TOKEN (${#API_TOKEN} characters), DATABASE_URL (${#DATABASE_URL} characters) and LOG_LEVEL=$LOG_LEVEL"; echo "VAULT_TOKEN in the child: ${VAULT_TOKEN:-absent}"'
