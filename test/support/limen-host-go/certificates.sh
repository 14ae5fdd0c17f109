# shellcheck shell=bash
# limen-host-go.sh's translation of acme-certificate, acme-remove, tls-placeholder, tls-publish (sourced by it; $sub is the subcommand).
# shellcheck disable=SC2154 # $sub, opt, mounts: limen-host-go.sh's
adapt_certificates() {
    die "$sub: not ported to the Go host tool yet (tools/limen-host/README.md, \"What is left\")"
}
