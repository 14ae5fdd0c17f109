# shellcheck shell=bash
# host-tool-cli.sh's translation of envoy-release, envoy-settle, envoy-forget (sourced by it; $sub is the subcommand).
# shellcheck disable=SC2154 # $sub, opt, mounts, deadlines: host-tool-cli.sh's

# envoy_number NAME VALUE: a numeric option as a JSON number; anything else as a string, which the Go
# tool refuses by the field's name and type.
envoy_number() {
    if [[ $2 =~ ^[0-9]{1,9}$ ]]; then
        printf ',"%s":%d' "$1" "$((10#$2))"
    else
        field "$1" "$2"
    fi
}

# envoy_door_fields: the options every step of the release names (envoy_setup's).
envoy_door_fields() {
    local names
    IFS=, read -r -a names <<<"${opt[names]}"
    printf '"container":%s' "$(json_string "${opt[container]}")"
    field stateDir "${opt[state-dir]}"
    envoy_number httpsPort "${opt[https-port]}"
    printf ',"names":%s' "$(json_array "${names[@]}")"
    envoy_number seconds "${opt[seconds]}"
    envoy_number drainSeconds "${opt[drain-seconds]}"
}

# envoy_files: envoy-release's stdin, one line `KIND BASE64` per file, as the request's files object.
envoy_files() {
    local kind text key out=""
    while read -r kind text; do
        case "$kind" in
            validate | candidate | bootstrap | lds | cds) key=$kind ;;
            previous-lds) key=previousLds ;;
            previous-cds) key=previousCds ;;
            *) die "envoy-release: stdin: unknown line '$kind'" ;;
        esac
        out+="${out:+,}\"$key\":$(json_string "$text")"
    done
    printf '"files":{%s}' "$out"
}

adapt_envoy() {
    local fields
    case $sub in
        envoy-release)
            opts envoy-release "mode config dynamic-dir lds-version cds-version order previous-lds-version previous-cds-version rollback-order container state-dir https-port names seconds drain-seconds envoy-image mount" "$@"
            need envoy-release mode config dynamic-dir lds-version cds-version order envoy-image
            need envoy-release container state-dir https-port names seconds drain-seconds
            fields="$(envoy_door_fields)$(field mode "${opt[mode]}")$(field config "${opt[config]}")$(field dynamicDir "${opt[dynamic-dir]}")"
            fields+="$(field ldsVersion "${opt[lds-version]}")$(field cdsVersion "${opt[cds-version]}")$(field order "${opt[order]}")"
            if [ -n "${opt[previous-lds-version]:-}" ]; then fields+=$(field previousLdsVersion "${opt[previous-lds-version]}"); fi
            if [ -n "${opt[previous-cds-version]:-}" ]; then fields+=$(field previousCdsVersion "${opt[previous-cds-version]}"); fi
            if [ -n "${opt[rollback-order]:-}" ]; then fields+=$(field rollbackOrder "${opt[rollback-order]}"); fi
            fields+=$(field envoyImage "${opt[envoy-image]}")
            if [ ${#mounts[@]} -gt 0 ]; then fields+=",\"mounts\":$(json_array "${mounts[@]}")"; fi
            fields+=",$(envoy_files)"
            ;;
        envoy-settle)
            opts envoy-settle "container state-dir https-port names seconds drain-seconds" "$@"
            need envoy-settle container state-dir https-port names seconds drain-seconds
            fields=$(envoy_door_fields)
            ;;
        envoy-forget)
            opts envoy-forget "state-dir" "$@"
            need envoy-forget state-dir
            fields="\"stateDir\":$(json_string "${opt[state-dir]}")"
            ;;
    esac
    request "$sub" "${deadlines:+$deadlines,}$fields"
}
