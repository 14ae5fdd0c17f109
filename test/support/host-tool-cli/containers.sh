# shellcheck shell=bash
# host-tool-cli.sh's translation of container-holder, container-claim (sourced by it; $sub is the
# subcommand): --name and --image as the request's name and image, which the Go tool judges.
# shellcheck disable=SC2154 # $sub, $deadlines, opt: host-tool-cli.sh's
adapt_containers() {
    opts "$sub" "name image" "$@"
    need "$sub" name image
    request "$sub" "${deadlines:+$deadlines,}\"name\":$(json_string "${opt[name]}")$(field image "${opt[image]}")"
}
