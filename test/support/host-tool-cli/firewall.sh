# shellcheck shell=bash
# host-tool-cli.sh's translation of apply-firewall, confirm-firewall, revert-firewall, remove-firewall
# (sourced by it; $sub is the subcommand). The retired bash tool's firewall_opts took every firewall
# option for each of the four and ignored those a subcommand did not use; so does this.
# `--table "FAMILY NAME"` becomes {"family", "name"}, split at its first space; the Go tool judges both.
# shellcheck disable=SC2154 # $sub, $deadlines, opt: host-tool-cli.sh's
adapt_firewall() {
    opts "$sub" "table boot-ruleset state-dir marker unit unit-path revert-unit confirm-within sha256" "$@"
    need "$sub" table boot-ruleset state-dir marker unit revert-unit
    local table=${opt[table]} family name="" fields seconds
    family=${table%% *}
    if [ "$family" != "$table" ]; then name=${table#* }; fi
    fields="\"table\":{\"family\":$(json_string "$family"),\"name\":$(json_string "$name")}"
    fields+="$(field bootRuleset "${opt[boot-ruleset]}")$(field stateDir "${opt[state-dir]}")$(field marker "${opt[marker]}")"
    fields+="$(field unit "${opt[unit]}")$(field revertUnit "${opt[revert-unit]}")"
    case $sub in
        apply-firewall)
            need "$sub" confirm-within
            # A number as JSON takes it; anything else goes as text, for the Go tool to refuse by name.
            seconds=${opt[confirm-within]}
            if [[ $seconds =~ ^[0-9]{1,9}$ ]]; then seconds=$((10#$seconds)); else seconds=$(json_string "$seconds"); fi
            request "$sub" "${deadlines:+$deadlines,}$fields,\"confirmWithinSeconds\":$seconds,$(content)"
            ;;
        confirm-firewall)
            need "$sub" sha256
            request "$sub" "${deadlines:+$deadlines,}$fields$(field sha256 "${opt[sha256]}")"
            ;;
        revert-firewall) request "$sub" "${deadlines:+$deadlines,}$fields" ;;
        remove-firewall)
            need "$sub" unit-path
            request "$sub" "${deadlines:+$deadlines,}$fields$(field unitPath "${opt[unit-path]}")"
            ;;
    esac
}
