#!/usr/bin/env bash
# A command line for the host tool (tools/limen-host), for the tests: the black-box tests were written
# against the tool's bash version (retired in 3.0.0), whose subcommands took options, and they still
# speak its command line. This turns each command line into one typed request on the tool's stdin, with
# `"output": "text"` (the words the tests and hostio's parsers read), and a file's content from stdin
# goes into the request as base64. What it refuses is what only a command line can get wrong (an unknown
# or empty option, a missing one); every other judgement is the tool's. Each group of subcommands has
# its translation in test/support/host-tool-cli/GROUP.sh.
#
#   host-tool-cli.sh [--deadlines NAME=SECONDS,...] SUBCOMMAND --option VALUE...
#   host-tool-cli.sh --limen-file COMMAND ARGS...      (the tool's file access: read, cat, replace, dir, ...)
#
# The binary: $LIMEN_HOST_GO_BINARY (test/support/host-tool-build.ts), or tools/limen-host/build.sh's.
set -euo pipefail

die() {
    echo "limen-host: $*" >&2
    exit 1
}

binary=${LIMEN_HOST_GO_BINARY:-}
if [ -z "$binary" ]; then
    binary=$(bash "$(dirname "${BASH_SOURCE[0]}")/../../tools/limen-host/build.sh" 2>/dev/null) || die "cannot build tools/limen-host (run tools/limen-host/build.sh)"
fi

# json_string TEXT: TEXT as a JSON string (the tests' paths and names: no control characters).
json_string() {
    local s=$1 LC_ALL=C
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    if [[ $s == *[$'\001'-$'\037']* ]]; then die "an argument with a control character: not passed on"; fi
    printf '"%s"' "$s"
}

# json_array WORD...: the words as a JSON array of strings.
json_array() {
    local out="" word
    for word in "$@"; do out+="${out:+,}$(json_string "$word")"; done
    printf '[%s]' "$out"
}

# content: stdin as the request's contentBase64 field.
content() { printf '"contentBase64":"%s"' "$(base64 -w0)"; }

# request COMMAND FIELDS: the request to the Go tool; its status is this script's.
request() {
    local status=0
    printf '{"command":%s,"output":"text"%s}' "$(json_string "$1")" "${2:+,$2}" | "$binary" || status=$?
    exit "$status"
}

if [ "${1:-}" = --limen-file ]; then
    shift
    command=${1:-}
    shift || true
    case $command in
        read) request read "\"paths\":$(json_array "$@")" ;;
        cat | remove) request "$command" "\"path\":$(json_string "${1:-}")" ;;
        replace) request replace "\"path\":$(json_string "${1:-}"),\"mode\":$(json_string "${2:-}"),\"owner\":$(json_string "${3:-}"),$(content)" ;;
        dir)
            create=""
            if [ "${1:-}" = --create ]; then
                create=",\"create\":$(json_string "${2:-}")"
                shift 2
            fi
            request dir "\"dir\":$(json_string "${1:-}")$create"
            ;;
        path-dirs)
            dirs=()
            while [ $# -gt 0 ] && [ "$1" != --commands ]; do
                dirs+=("$1")
                shift
            done
            shift || true
            request path-dirs "\"dirs\":$(json_array "${dirs[@]}"),\"commands\":$(json_array "$@")"
            ;;
        command) request command "\"name\":$(json_string "${1:-}")" ;;
        *) request "$command" ;;
    esac
fi

deadlines=""
if [ "${1:-}" = --deadlines ]; then
    [[ ${2:-} =~ ^[a-z0-9-]+=[1-9][0-9]*(,[a-z0-9-]+=[1-9][0-9]*)*$ ]] || die "--deadlines must be NAME=SECONDS,..., got '${2:-}'"
    IFS=, read -r -a specs <<<"$2"
    for spec in "${specs[@]}"; do deadlines+="${deadlines:+,}$(json_string "${spec%%=*}"):${spec#*=}"; done
    deadlines="\"deadlines\":{$deadlines}"
    shift 2
fi
sub=${1:-}
shift || true

# opts SUBCOMMAND "name1 name2 ..." ARGS...: the bash tool's option parsing, into opt[name].
declare -A opt=()
mounts=()
opts() {
    local sub=$1 names=$2 name
    shift 2
    while [ $# -gt 0 ]; do
        name=${1#--}
        if [ "$name" = "$1" ] || [[ " $names " != *" $name "* ]]; then
            die "$sub: unknown argument '$1' (expected: --${names// / --})"
        fi
        if [ $# -lt 2 ] || [ -z "$2" ]; then die "$sub: --$name needs a non-empty value"; fi
        if [ "$name" = mount ]; then mounts+=("$2"); else opt[$name]=$2; fi
        shift 2
    done
}
need() {
    local sub=$1 name
    shift
    for name in "$@"; do
        [ -n "${opt[$name]:-}" ] || die "$sub: --$name is required"
    done
}
field() { printf ',"%s":%s' "$1" "$(json_string "$2")"; }

# Each group of subcommands has its translation in a file of its own (host-tool-cli/GROUP.sh), which
# defines adapt_GROUP: the same opts, need, field, content and request as above.
for group in firewall pm2 envoy certificates containers; do
    # shellcheck source=/dev/null
    source "$(dirname "${BASH_SOURCE[0]}")/host-tool-cli/$group.sh"
done

case $sub in
    check-ready) request check-ready "$deadlines" ;;
    install-file)
        opts install-file "path mode owner check envoy-image mount" "$@"
        need install-file path mode owner check
        fields="\"path\":$(json_string "${opt[path]}")$(field mode "${opt[mode]}")$(field owner "${opt[owner]}")$(field check "${opt[check]}")"
        if [ -n "${opt[envoy-image]:-}" ]; then fields+=$(field envoyImage "${opt[envoy-image]}"); fi
        if [ ${#mounts[@]} -gt 0 ]; then fields+=",\"mounts\":$(json_array "${mounts[@]}")"; fi
        request install-file "${deadlines:+$deadlines,}$fields,$(content)"
        ;;
    remove-file)
        opts remove-file "path" "$@"
        need remove-file path
        request remove-file "${deadlines:+$deadlines,}\"path\":$(json_string "${opt[path]}")"
        ;;
    apply-firewall | confirm-firewall | revert-firewall | remove-firewall) adapt_firewall "$@" ;;
    pm2-enable | pm2-apply | pm2-mark-loaded | pm2-save | pm2-remove) adapt_pm2 "$@" ;;
    envoy-release | envoy-settle | envoy-forget) adapt_envoy "$@" ;;
    acme-certificate | acme-remove | tls-placeholder | tls-publish) adapt_certificates "$@" ;;
    container-holder | container-claim) adapt_containers "$@" ;;
    *) request "$sub" "$deadlines" ;;
esac
