# shellcheck shell=bash
# limen-host-go.sh's translation of pm2-enable, pm2-apply, pm2-mark-loaded, pm2-save, pm2-remove (sourced by it; $sub is the subcommand).
# shellcheck disable=SC2154 # $sub, opt, mounts: limen-host-go.sh's
adapt_pm2() {
    die "$sub: not ported to the Go host tool yet (tools/limen-host/README.md, \"What is left\")"
}
