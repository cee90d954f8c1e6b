#!/usr/bin/env bash
# Third-party XMPP clients against a private server on loopback:
#   1. slixmpp logs in over STARTTLS (certificate verified against the server's CA) with
#      exactly SCRAM-SHA-1, exactly PLAIN, and exactly SCRAM-SHA-1-PLUS (tls-unique, over
#      TLS 1.2); plain SCRAM with the GS2 flag "y" where -PLUS is offered, a wrong password
#      and an untrusted certificate are refused (go-sendxmpp too refuses the certificate)
#   2. slixmpp sets a roster item with a name and two groups and gets it back; a second get
#      with the roster version is answered "unchanged"
#   3. go-sendxmpp (bob) sends a message that a listening slixmpp (alice) receives
#   4. slixmpp (bob) sends a message that a listening slixmpp (alice) receives
# Usage: thirdparty.sh SERVER REPO_ROOT
# SERVER is prosody or ejabberd (started with scripts/SERVER-start), or pxmpp (pxmpp-server,
# started with scripts/pxmpp-server-start: $PXMPP_SERVER, else build/pxmpp-server).  Exit 0 when every check passes, 77 when
# the server or a client is not installed, 1 otherwise.
set -u
kind=${1:-}
root=${2:-}
# shellcheck source-path=SCRIPTDIR source=server-lib.sh
. "$root/tests/interop/server-lib.sh"

py=/usr/bin/python3
slix=("$py" "$root/tests/interop/slixmpp_client.py")
if ! "$py" -c 'import slixmpp' 2>/dev/null; then
    echo "slixmpp not installed for $py (python3-slixmpp): skipped"
    exit 77
fi
if ! command -v go-sendxmpp >/dev/null 2>&1; then
    echo "go-sendxmpp not installed: skipped"
    exit 77
fi

# Every server kind provides: the domain DOMAIN on HOST:PORT with STARTTLS, a certificate
# that CAFILE verifies for DOMAIN, the accounts alice ('wonder land') and bob ('b0b-secret')
# with their password files $dir/alice.pw and $dir/bob.pw, and an EXIT trap that stops the
# server, kills the PIDs in pids and removes $dir.
HOST=127.0.0.1
DOMAIN=localhost
# Options of the slixmpp runs that use its default mechanism choice.  pxmpp-server offers
# SCRAM-*-PLUS with tls-exporter under TLS 1.3; slixmpp 1.8 binds only with tls-unique, so it
# falls back to SCRAM-SHA-1 with the GS2 flag "y", which a server offering -PLUS must refuse
# (RFC 5802 section 6): against it those runs turn channel binding off.
nobind=()
[[ $kind == pxmpp ]] && nobind=(--channel-binding none)
case $kind in
    prosody | ejabberd | pxmpp)
        server_use "$kind" "$root"
        server_session "$(mktemp -d /tmp/pxmpp-thirdparty.XXXXXX)"
        dir=$SERVER_SESSION_DIR
        ;;
    *)
        echo "usage: thirdparty.sh prosody|ejabberd|pxmpp REPO_ROOT" >&2
        exit 2
        ;;
esac

# slixmpp USER [OPTION...] ACTION [OPTION...]: tests/interop/slixmpp_client.py as USER@DOMAIN
slixmpp() {
    local user=$1
    shift
    "${slix[@]}" --jid "$user@$DOMAIN" --password-file "$dir/$user.pw" --host "$HOST" --port "$PORT" \
        --cafile "$CAFILE" --timeout 10 "$@"
}

# gosendxmpp FROM TO BODY [CA]: go-sendxmpp sends BODY as a chat message from FROM@DOMAIN to
# TO, verifying the server with CA (CAFILE by default).
# It has no option for a trust anchor, but it uses Go's certificate verification, which
# reads the roots from SSL_CERT_FILE and SSL_CERT_DIR: pointing them at CAFILE and at an
# empty directory makes CAFILE the only root.  The name it verifies is the JID's domain, the
# address comes from jserver and port, and STARTTLS is its default (-t would be direct TLS).
# The password goes in a configuration file (-f) rather than on the command line.
gosendxmpp() {
    local from=$1 to=$2 body=$3 ca=${4:-$CAFILE} rc=$dir/$1.sendxmpprc password
    IFS= read -r password <"$dir/$from.pw"
    (umask 077 && printf 'username: %s@%s\npassword: %s\njserver: %s\nport: %s\n' \
        "$from" "$DOMAIN" "$password" "$HOST" "$PORT" >"$rc")
    mkdir -p "$dir/no-certs"
    printf '%s' "$body" | HOME=$dir SSL_CERT_FILE=$ca SSL_CERT_DIR=$dir/no-certs \
        timeout 30 go-sendxmpp -f "$rc" --timeout 10 "$to"
}

# is_login FILE MECHANISM USER GS2 TLS: FILE holds the login line of a full JID of USER with
# MECHANISM, the GS2 flag GS2 (- for none: not SCRAM), over TLS version TLS
is_login() {
    "$py" - "$@" <<'EOF'
import json, sys
path, mech, user, gs2, tls = sys.argv[1:6]
lines = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
ok = any(o.get("action") == "login" and o.get("mechanism") == mech
         and o.get("jid", "").startswith(user + "/") and o.get("gs2", "-") == gs2
         and o.get("tls") == tls for o in lines)
sys.exit(0 if ok else 1)
EOF
}

# is_message FILE FROM BODY TYPE: FILE holds a message from a full JID of FROM with BODY and TYPE
is_message() {
    "$py" - "$@" <<'EOF'
import json, sys
path, sender, body, mtype = sys.argv[1:5]
lines = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
ok = any(o.get("body") == body and o.get("type") == mtype
         and o.get("from", "").startswith(sender + "/") for o in lines)
sys.exit(0 if ok else 1)
EOF
}

# login NAME MECHANISM GS2 TLS [OPTION...]: slixmpp logs alice in with OPTIONs; she must be
# authenticated with exactly MECHANISM, GS2 flag GS2, over TLS version TLS
login() {
    local name=$1 mech=$2 gs2=$3 tls=$4 out=$dir/login-$1
    shift 4
    slixmpp alice --mech "$mech" "$@" login >"$out.out" 2>"$out.err"
    st=$?
    check "slixmpp login $name exits 0 (got $st)" test $st -eq 0
    check "slixmpp authenticated with exactly $mech (GS2 flag $gs2) over $tls" \
        is_login "$out.out" "$mech" "alice@$DOMAIN" "$gs2" "$tls"
    [[ $st -eq 0 ]] || sed 's/^/    /' "$out.err"
}

# 1. logins with each mechanism, exactly; refusals
login "with SCRAM-SHA-1" SCRAM-SHA-1 n TLSv1.3 --channel-binding none
login "with PLAIN" PLAIN - TLSv1.3
# Over TLS 1.2 the servers offer SCRAM-SHA-1-PLUS with tls-unique, slixmpp's only binding.
login "with SCRAM-SHA-1-PLUS over TLS 1.2" SCRAM-SHA-1-PLUS p=tls-unique TLSv1.2 --tls-max 1.2
# There, slixmpp's plain SCRAM-SHA-1 says "y" (it could bind but saw no -PLUS): a server that
# offered -PLUS must take that for a downgrade and refuse it (RFC 5802, section 6).  ejabberd
# accepts it.
if [[ $kind != ejabberd ]]; then
    slixmpp alice --mech SCRAM-SHA-1 --tls-max 1.2 login >/dev/null 2>"$dir/downgrade.err"
    st=$?
    check "plain SCRAM-SHA-1 with GS2 flag y while -PLUS is offered is refused (got $st)" test $st -eq 1
    check "the refusal is an authentication failure" grep -q "authentication failed" "$dir/downgrade.err"
fi
printf 'not the password\n' >"$dir/wrong.pw"
"${slix[@]}" --jid "alice@$DOMAIN" --password-file "$dir/wrong.pw" --host "$HOST" --port "$PORT" \
    --cafile "$CAFILE" --timeout 10 --mech SCRAM-SHA-1 login >/dev/null 2>"$dir/wrong.err"
st=$?
check "slixmpp with a wrong password exits 1 (got $st)" test $st -eq 1
check "the wrong password is refused with not-authorized" grep -q "not-authorized" "$dir/wrong.err"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/other.key" -out "$dir/other.crt" \
    -subj "/CN=$DOMAIN" -addext "subjectAltName=DNS:$DOMAIN" -days 1 >/dev/null 2>&1
slixmpp alice --cafile "$dir/other.crt" login >/dev/null 2>"$dir/untrusted.err"
st=$?
check "slixmpp with another CA exits 1 (got $st)" test $st -eq 1
check "the certificate is what failed" grep -q "CERTIFICATE_VERIFY_FAILED" "$dir/untrusted.err"
gosendxmpp bob "alice@$DOMAIN" "never delivered" "$dir/other.crt" >/dev/null 2>"$dir/untrusted-go.err"
st=$?
check "go-sendxmpp with another CA fails (got $st)" test $st -ne 0
check "go-sendxmpp says the certificate is unknown" grep -q "x509: certificate signed by unknown authority" \
    "$dir/untrusted-go.err"

# 2. roster item with a name and two groups, read back; versioned get
slixmpp alice "${nobind[@]}" roster --contact "bob@$DOMAIN" --name Bob --group Friends --group 'Work & Play' \
    >"$dir/roster.out" 2>"$dir/roster.err"
st=$?
check "slixmpp roster exits 0 (got $st)" test $st -eq 0
[[ $st -eq 0 ]] || sed 's/^/    /' "$dir/roster.err"
check "the roster has bob with his name and both groups" grep -qxF \
    "{\"item\":{\"groups\":[\"Friends\",\"Work & Play\"],\"jid\":\"bob@$DOMAIN\",\"name\":\"Bob\",\"subscription\":\"none\"}}" \
    "$dir/roster.out"
check "the roster has a version, and a get with it is answered unchanged" \
    grep -q '^{"roster":{"count":1,"unchanged":true,"ver":"' "$dir/roster.out"

# exchange SENDER BODY COMMAND...: alice listens with slixmpp while COMMAND sends BODY from
# SENDER; she must receive it as a chat message from a full JID of SENDER
exchange() {
    local sender=$1 body=$2 out=$dir/receive.$n
    shift 2
    slixmpp alice "${nobind[@]}" --wait 15 receive >"$out" 2>"$out.err" &
    local listener=$!
    pids+=("$listener")
    if ! wait_for "$out.err" "slixmpp_client: ready"; then
        check "slixmpp receive is ready" false
        sed 's/^/    /' "$out.err"
        return
    fi
    "$@" >"$out.send" 2>&1
    st=$?
    check "$1 as $sender exits 0 (got $st)" test $st -eq 0
    [[ $st -eq 0 ]] || sed 's/^/    /' "$out.send"
    wait "$listener"
    st=$?
    check "slixmpp receive exits 0 (got $st)" test $st -eq 0
    check "alice received the body from $sender@$DOMAIN/..., type chat" \
        is_message "$out" "$sender@$DOMAIN" "$body" chat
    [[ $st -eq 0 ]] || sed 's/^/    /' "$out.err"
}

# 3. go-sendxmpp to slixmpp
body1='from go-sendxmpp: Grüße <&> ✓'
exchange bob "$body1" gosendxmpp bob "alice@$DOMAIN" "$body1"

# 4. slixmpp to slixmpp
body2="from slixmpp: 'quoted' & 你好"
exchange bob "$body2" slixmpp bob "${nobind[@]}" send --to "alice@$DOMAIN" --body "$body2"

echo "$((n - fails))/$n checks passed"
[[ $fails -eq 0 ]]
