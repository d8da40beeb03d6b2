#!/bin/sh
# Run every fuzz target for a bounded time (default 60 s each); see fuzz/README.md.
#   fuzz/run.sh            # all targets, 60 s each
#   fuzz/run.sh 300        # all targets, 300 s each
#   fuzz/run.sh 60 fuzz_frames
set -eu
cd "$(dirname "$0")/.."
time="${1:-60}"
[ $# -gt 0 ] && shift
exec "${PYTHON:-python3}" -m fuzz --time "$time" "$@"
