# shellcheck shell=bash
# Sourced by the lab scripts that take a Pulumi plugin from ../shared/tools (Pulumi's own builds of the
# plugins the Go module proxy refuses: the Docker provider and the Node.js language host; that folder's
# README says from what source and how). Each file is checked against the folder's SHA256SUMS before it
# is used.
#   LIMEN_SHARED_TOOLS   the folder (default: ../shared/tools beside the repository)

# shared_tools_dir: prints the folder that holds SHA256SUMS, or returns 1.
shared_tools_dir() {
  local dir repo
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  for dir in "${LIMEN_SHARED_TOOLS:-}" "$repo/../shared/tools" /work/shared/tools; do
    [[ -n $dir && -f $dir/SHA256SUMS ]] && { (cd "$dir" && pwd); return 0; }
  done
  return 1
}

# shared_tool NAME: prints the path of NAME in the shared tools folder once it matches its SHA256SUMS line;
# otherwise says why on stderr and returns 1.
shared_tool() {
  local name=$1 dir
  dir=$(shared_tools_dir) || { echo "no shared tools folder with a SHA256SUMS (../shared/tools beside the repository, or LIMEN_SHARED_TOOLS)" >&2; return 1; }
  [[ -x $dir/$name ]] || { echo "$dir has no executable $name" >&2; return 1; }
  (cd "$dir" && grep " $name\$" SHA256SUMS | sha256sum --check --status) || { echo "$dir/$name does not match its SHA256SUMS line: not used" >&2; return 1; }
  echo "$dir/$name"
}
