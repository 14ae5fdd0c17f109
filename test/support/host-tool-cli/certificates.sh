# shellcheck shell=bash
# host-tool-cli.sh's translation of acme-certificate, acme-remove, tls-placeholder, tls-publish (sourced by it; $sub is the subcommand).
# shellcheck disable=SC2154 # $sub, opt, deadlines: host-tool-cli.sh's

# domains_field LIST: --domains (comma-separated) as the request's array of names.
domains_field() {
    local names=()
    IFS=, read -r -a names <<<"$1"
    printf ',"domains":%s' "$(json_array "${names[@]}")"
}

adapt_certificates() {
    local fields
    case $sub in
        tls-publish)
            opts tls-publish "lineage-dir publish-dir domains" "$@"
            need tls-publish lineage-dir publish-dir domains
            fields="$(field lineageDir "${opt[lineage-dir]}")$(field publishDir "${opt[publish-dir]}")$(domains_field "${opt[domains]}")"
            ;;
        tls-placeholder)
            opts tls-placeholder "publish-dir domains" "$@"
            need tls-placeholder publish-dir domains
            fields="$(field publishDir "${opt[publish-dir]}")$(domains_field "${opt[domains]}")"
            ;;
        acme-certificate)
            opts acme-certificate "name domains email server responder-address responder-port lineage-dir publish-dir hook" "$@"
            need acme-certificate name domains email server responder-address responder-port lineage-dir publish-dir hook
            # A number in the request: the command line's word must be one.
            [[ ${opt[responder-port]} =~ ^[1-9][0-9]*$ ]] || die "acme-certificate: --responder-port must be a port number, got '${opt[responder-port]}'"
            fields="$(field name "${opt[name]}")$(domains_field "${opt[domains]}")$(field email "${opt[email]}")$(field server "${opt[server]}")"
            fields+="$(field responderAddress "${opt[responder-address]}"),\"responderPort\":${opt[responder-port]}"
            fields+="$(field lineageDir "${opt[lineage-dir]}")$(field publishDir "${opt[publish-dir]}")$(field hook "${opt[hook]}")"
            ;;
        acme-remove)
            opts acme-remove "name publish-dir" "$@"
            need acme-remove name publish-dir
            fields="$(field name "${opt[name]}")$(field publishDir "${opt[publish-dir]}")"
            ;;
    esac
    fields="${deadlines}${fields}"
    request "$sub" "${fields#,}"
}
