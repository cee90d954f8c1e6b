# Shared by the interop tests against the private Prosody: sourced, with `root` set to the
# repository.
#
# interop_server PREFIX   skips the test (exit 77) when Prosody is not installed, makes the
#                         scratch directory $dir (/tmp/PREFIX.XXXXXX), starts the server in
#                         $dir/server and sets what scripts/prosody-start prints (PORT,
#                         CAFILE, COMPONENT_PORT, COMPONENT_SECRET_FILE).  On exit every PID
#                         in the array `pids` is killed, the server stopped and $dir removed.
# check WHAT COMMAND...   runs COMMAND and prints "ok   WHAT" or "FAIL WHAT"; n counts the
#                         checks, fails the failed ones.
# wait_for FILE PATTERN   waits up to 20 seconds for a line of FILE to match PATTERN (grep).

interop_server() {
    command -v prosody >/dev/null 2>&1 || { echo "prosody not installed: skipped"; exit 77; }
    dir=$(mktemp -d "/tmp/$1.XXXXXX")
    pids=()
    trap interop_cleanup EXIT
    eval "$("$root/scripts/prosody-start" "$dir/server")" || { echo "FAIL: prosody did not start"; exit 1; }
}

interop_cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    "$root/scripts/prosody-stop" --clean "$dir/server" >/dev/null 2>&1
    rm -rf "$dir"
}

fails=0
n=0
check() {
    n=$((n + 1))
    local what=$1
    shift
    if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}

wait_for() {
    local _
    for _ in $(seq 1 200); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
