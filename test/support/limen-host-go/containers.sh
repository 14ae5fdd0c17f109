# shellcheck shell=bash
# limen-host-go.sh's translation of container-holder, container-claim (sourced by it; $sub is the subcommand).
# shellcheck disable=SC2154 # $sub, opt, mounts: limen-host-go.sh's
adapt_containers() {
    die "$sub: not ported to the Go host tool yet (tools/limen-host/README.md, \"What is left\")"
}
