#!/usr/bin/env bash
# Runs a command in the operator namespace (limen-operator, 198.51.100.2 / 2001:db8::2), where the
# Pulumi CLI and every probe of the lab must run. Never reach the lab addresses from the host's
# own namespace: there 198.51.100.0/24 may be a real, routed network.
#   lab/hosts/operator.sh ssh -i lab/.state/ssh/deploy_ed25519 deploy@198.51.100.10 true
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -ge 1 ]] || die "usage: $0 CMD [ARG...]"
require_root
[[ -e /run/netns/$OPERATOR_NS ]] || die "namespace $OPERATOR_NS does not exist: run up.sh"
exec ip netns exec "$OPERATOR_NS" "$@"
