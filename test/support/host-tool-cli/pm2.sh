# shellcheck shell=bash
# host-tool-cli.sh's translation of pm2-enable, pm2-apply, pm2-mark-loaded, pm2-save, pm2-remove (sourced by it; $sub is the subcommand).
# shellcheck disable=SC2154 # $sub, opt, deadlines: host-tool-cli.sh's

# pm2_need_deadlines NAME...: the bash tool's need_deadlines: its command line carries the deadlines of
# these subcommands (--deadlines), which the Go tool's request may leave to its defaults.
pm2_need_deadlines() {
    local name
    for name in "$@"; do
        [[ $deadlines == *"\"$name\":"* ]] || die "no deadline for $name: the stack passes every deadline with --deadlines (hostio/deadlines.ts)"
    done
}

# pm2_list NAME VALUE: the comma-separated VALUE as the JSON array field NAME.
pm2_list() {
    local list
    IFS=, read -r -a list <<<"$2"
    printf ',"%s":%s' "$1" "$(json_array "${list[@]}")"
}

# pm2_files: pm2-apply's stdin, a line per file (`new|previous PATH MODE OWNER CHECK BASE64`,
# test/support/host-tool.ts's pm2FileSets), as the request's files; the Go tool judges each field.
pm2_files() {
    local set path mode owner check content out=""
    while read -r set path mode owner check content; do
        out+="${out:+,}{\"set\":$(json_string "$set"),\"path\":$(json_string "$path"),\"mode\":$(json_string "$mode"),\"owner\":$(json_string "$owner"),\"check\":$(json_string "$check"),\"contentBase64\":$(json_string "$content")}"
    done
    printf ',"files":[%s]' "$out"
}

adapt_pm2() {
    local fields
    case $sub in
        pm2-enable)
            opts pm2-enable "user marker-dir home log-rotation-timer" "$@"
            need pm2-enable user marker-dir
            pm2_need_deadlines pm2-call
            fields="$(field user "${opt[user]}")$(field markerDir "${opt[marker-dir]}")"
            if [ -n "${opt[home]:-}" ]; then fields+=$(field home "${opt[home]}"); fi
            if [ -n "${opt[log-rotation-timer]:-}" ]; then fields+=$(field logRotationTimer "${opt[log-rotation-timer]}"); fi
            ;;
        pm2-apply)
            opts pm2-apply "user ecosystem apps marker-dir loaded gate-seconds gate-session gate-page" "$@"
            need pm2-apply user ecosystem apps marker-dir loaded
            pm2_need_deadlines pm2-call gate-request
            fields="$(field user "${opt[user]}")$(field ecosystem "${opt[ecosystem]}")$(pm2_list apps "${opt[apps]}")"
            fields+="$(field markerDir "${opt[marker-dir]}")$(pm2_list loaded "${opt[loaded]}")"
            if [ -n "${opt[gate-seconds]:-}" ]; then
                need pm2-apply gate-session gate-page
                [[ ${opt[gate-seconds]} =~ ^[1-9][0-9]*$ ]] || die "pm2-apply: --gate-seconds must be a whole number of seconds, got '${opt[gate-seconds]}'"
                fields+=",\"gate\":{\"seconds\":${opt[gate-seconds]},\"sessionUrl\":$(json_string "${opt[gate-session]}"),\"pageUrl\":$(json_string "${opt[gate-page]}")}"
            fi
            fields+=$(pm2_files)
            ;;
        pm2-mark-loaded)
            opts pm2-mark-loaded "user marker-dir loaded" "$@"
            need pm2-mark-loaded user marker-dir loaded
            fields="$(field user "${opt[user]}")$(field markerDir "${opt[marker-dir]}")$(pm2_list loaded "${opt[loaded]}")"
            ;;
        pm2-save)
            opts pm2-save "user" "$@"
            need pm2-save user
            pm2_need_deadlines pm2-call
            fields=$(field user "${opt[user]}")
            ;;
        pm2-remove)
            opts pm2-remove "user apps marker-dir log-rotation-timer" "$@"
            need pm2-remove user apps marker-dir
            pm2_need_deadlines pm2-call
            fields="$(field user "${opt[user]}")$(pm2_list apps "${opt[apps]}")$(field markerDir "${opt[marker-dir]}")"
            if [ -n "${opt[log-rotation-timer]:-}" ]; then fields+=$(field logRotationTimer "${opt[log-rotation-timer]}"); fi
            ;;
    esac
    # field's values begin with a comma: the first one's goes.
    request "$sub" "${deadlines:+$deadlines,}${fields#,}"
}
