#!/usr/bin/env bash
# Prints one of the README's two set-up commands, so that CI runs exactly what a new user pastes:
#   .ci/readme-command.sh main    the ```sh block after the line that says "Run the main job"
#   .ci/readme-command.sh tests   the ```sh block after the line that says "Run the tests"
# Fails, naming the phrase, when the README has no such block or it is not one line.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
    main) phrase="Run the main job" ;;
    tests) phrase="Run the tests" ;;
    *) echo "usage: $0 main|tests" >&2; exit 2 ;;
esac
command=$(awk -v phrase="$phrase" '
    index($0, phrase) { found = 1; next }
    found && /^```sh$/ { inside = 1; next }
    inside && /^```$/ { exit }
    inside { print }
' README.md)
if [ -z "$command" ] || [ "$(printf '%s\n' "$command" | wc -l)" -ne 1 ]; then
    echo "README.md: no one-line \`\`\`sh block after the line with \"$phrase\"" >&2
    exit 1
fi
printf '%s\n' "$command"
