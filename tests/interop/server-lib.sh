# shellcheck shell=bash
# The private XMPP server of the live interop tests: which one, and how to run
# it.  Sourced by the tests of tests/interop/, not run.
#
#   server_use NAME ROOT   selects the server (prosody, ejabberd or pxmpp) whose
#                          scripts are ROOT/scripts/NAME-start, -adduser and
#                          -stop; exits 2 for another NAME and 77 (skipped)
#                          when the server is not installed.  Sets SERVER,
#                          SERVER_START, SERVER_ADDUSER, SERVER_STOP and
#                          SERVER_LOG (the server log, relative to the
#                          instance directory).
#   server_session DIR     starts the server in DIR/server, adds the accounts
#                          alice ('wonder land') and bob ('b0b-secret') with
#                          their password files DIR/alice.pw and DIR/bob.pw,
#                          sets PORT, CAFILE, COMPONENT_PORT and
#                          COMPONENT_SECRET_FILE, and sets an EXIT trap that
#                          kills the PIDs in the array pids, stops the server
#                          and removes DIR.  Exits 1 when the server does not
#                          start.
#   check WHAT COMMAND...  runs COMMAND and prints "ok   WHAT" or "FAIL WHAT";
#                          n counts the checks, fails the failed ones.
#   wait_for FILE PATTERN  waits up to 20 seconds for a line of FILE to match
#                          PATTERN (grep); fails otherwise.

# SERVER_LOG is for the scripts that source this file.
# shellcheck disable=SC2034
server_use() {
    case ${1:-} in
        prosody)
            if ! command -v prosody >/dev/null 2>&1 || ! command -v prosodyctl >/dev/null 2>&1; then
                echo "prosody not installed: skipped"
                exit 77
            fi
            SERVER_LOG=prosody.log
            ;;
        ejabberd)
            if ! command -v erl >/dev/null 2>&1 || [[ ! -f /usr/sbin/ejabberdctl ]]; then
                echo "ejabberd not installed: skipped"
                exit 77
            fi
            SERVER_LOG=logs/ejabberd.log
            ;;
        pxmpp)
            # this project's own server; its start script runs $PXMPP_SERVER
            PXMPP_SERVER=${PXMPP_SERVER:-$2/build/pxmpp-server}
            if [[ ! -x "$PXMPP_SERVER" ]]; then
                echo "pxmpp-server not built: skipped"
                exit 77
            fi
            export PXMPP_SERVER
            SERVER_LOG=pxmpp-server.log
            ;;
        *)
            echo "unknown server '${1:-}': expected prosody, ejabberd or pxmpp" >&2
            exit 2
            ;;
    esac
    SERVER=$1
    local scripts=$1
    [[ $1 == pxmpp ]] && scripts=pxmpp-server
    SERVER_START=$2/scripts/$scripts-start
    SERVER_ADDUSER=$2/scripts/$scripts-adduser
    SERVER_STOP=$2/scripts/$scripts-stop
}

server_session_end() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    "$SERVER_STOP" --clean "$SERVER_SESSION_DIR/server" >/dev/null 2>&1
    rm -rf "$SERVER_SESSION_DIR"
}

server_session() {
    local env_lines
    SERVER_SESSION_DIR=$1
    pids=()
    trap server_session_end EXIT
    if ! env_lines=$("$SERVER_START" "$1/server"); then
        echo "FAIL: $SERVER did not start"
        exit 1
    fi
    eval "$env_lines"
    "$SERVER_ADDUSER" "$1/server" alice 'wonder land' >/dev/null || { echo "FAIL: could not add alice"; exit 1; }
    "$SERVER_ADDUSER" "$1/server" bob 'b0b-secret' >/dev/null || { echo "FAIL: could not add bob"; exit 1; }
    printf 'wonder land\n' >"$1/alice.pw"
    printf 'b0b-secret\n' >"$1/bob.pw"
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
