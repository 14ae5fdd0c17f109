#!/usr/bin/env bash
# The host tool's own checks, as CI runs them (.ci/run): formatting (gofmt), go vet, the unit tests
# (as root: they chown to nobody and mknod; as another user they skip with a message), then
# reproducible.sh: two fresh builds equal to each other and to the committed limen-host.sha256.
# The acceptance suite (the bash tool's black-box tests against this tool) is CI's next step.
#
# Usage: tools/limen-host/check.sh
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../lab/engine/go-env.sh
source "$SRC/../../lab/engine/go-env.sh"
cd "$SRC"
export GOFLAGS="-mod=readonly -buildvcs=false"

unformatted="$(gofmt -l .)"
if [[ -n "$unformatted" ]]; then
    echo "gofmt: these files are not formatted (gofmt -w tools/limen-host):" >&2
    echo "$unformatted" >&2
    exit 1
fi
go vet ./...
go test -count=1 ./...
bash "$SRC/reproducible.sh"
