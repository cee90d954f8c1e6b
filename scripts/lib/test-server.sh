# shellcheck shell=bash
# Functions shared by the scripts that run a private XMPP server for tests
# (scripts/prosody-* and scripts/ejabberd-*).  Sourced, not run; the sourcing
# script sets PROG to its own name first.
#
#   die MESSAGE...            print "PROG: MESSAGE" on stderr and exit 1
#   alive PID                 PID is a running (not zombie) process
#   runs_with PID WORD        one argument of PID's command line is exactly WORD
#   pids_with WORD            the PIDs of all processes that run with WORD
#   listens PID PORT          PID holds a socket listening on 127.0.0.1:PORT
#   now_ms                    milliseconds since the epoch
#   free_port                 a TCP port on 127.0.0.1 that nobody listens on now
#   make_localhost_cert CERT KEY
#                             a self-signed certificate for "localhost" (kept if
#                             both files exist)
#   make_secret FILE          a random secret in FILE, mode 600 (kept if FILE exists)
#   print_tails FILE...       the last lines of each non-empty FILE, on stderr
#   stop_pid PID WORD GRACE   TERM, then KILL after GRACE seconds, if PID runs with WORD
#   remove_instance DIR NAME...
#                             removes DIR if it holds nothing but the entries NAME...

die() {
  printf '%s: %s\n' "$PROG" "$*" >&2
  exit 1
}

alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)
  [[ "$state" != Z ]]
}

# A recorded PID can be reused by an unrelated process once the server is gone;
# matching a word of the command line that names the instance (its
# configuration file, its node name) makes sure only the server is signalled.
runs_with() {
  { tr '\0' '\n' <"/proc/$1/cmdline"; } 2>/dev/null | grep -qxF -- "$2"
}

pids_with() {
  local proc
  for proc in /proc/[0-9]*; do
    runs_with "${proc#/proc/}" "$1" && echo "${proc#/proc/}"
  done
  return 0
}

# Reads /proc/net/tcp: the inode of the listening socket (state 0A) bound to
# 127.0.0.1:PORT must be one of PID's open files.  Unlike a test connection,
# this cannot be fooled by another process that took the port.
listens() {
  local pid=$1 port=$2 inode
  inode=$(awk -v addr="$(printf '0100007F:%04X' "$port")" \
    '$2 == addr && $4 == "0A" { print $10; exit }' /proc/net/tcp 2>/dev/null)
  [[ -n "$inode" ]] || return 1
  find "/proc/$pid/fd" -lname "socket:\[$inode\]" -print -quit 2>/dev/null | grep -q .
}

# On bash < 5 (no EPOCHREALTIME) the resolution is whole seconds.
now_ms() {
  if [[ -n "${EPOCHREALTIME:-}" ]]; then
    local t=${EPOCHREALTIME/[.,]/}
    echo $((t / 1000))
  else
    echo $((SECONDS * 1000))
  fi
}

free_port() {
  if [[ -x /usr/bin/python3 ]]; then
    /usr/bin/python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
    return
  fi
  # Without Python: probe random ports of the dynamic range until one refuses
  # connections.
  local port i
  for ((i = 0; i < 200; i++)); do
    port=$((49152 + (RANDOM * 32768 + RANDOM) % 16384))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  return 1
}

# The certificate is its own trust anchor (the CAFILE the start scripts print).
make_localhost_cert() {
  local cert=$1 key=$2 out
  [[ -s "$cert" && -s "$key" ]] && return 0
  if ! out=$(openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
    -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign" \
    -addext "extendedKeyUsage=serverAuth" \
    -keyout "$key" -out "$cert" 2>&1); then
    printf '%s\n' "$out" >&2
    die "openssl could not create the certificate"
  fi
  chmod 600 -- "$key"
}

# 24 random bytes as 32 characters of URL-safe base64: no quoting needed in
# any configuration language.
make_secret() {
  local file=$1 secret
  [[ -s "$file" ]] && return 0
  secret=$(openssl rand -base64 24) || die "openssl could not make a random secret"
  secret=${secret//+/-}
  secret=${secret//\//_}
  (umask 077 && printf '%s\n' "$secret" >"$file") || die "cannot write $file"
}

print_tails() {
  local file
  for file in "$@"; do
    [[ -s "$file" ]] || continue
    printf '%s: last lines of %s:\n' "$PROG" "$file" >&2
    tail -n 25 -- "$file" | sed 's/^/    /' >&2
  done
}

stop_pid() {
  local pid=$1 word=$2 grace=$3 i
  alive "$pid" && runs_with "$pid" "$word" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  printf '%s: PID %s ignored TERM for %ss; sending KILL\n' "$PROG" "$pid" "$grace" >&2
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  die "PID $pid survived KILL"
}

# Only a directory that holds nothing but what a start script creates is
# removed, never an arbitrary one given by mistake.
remove_instance() {
  local dir=$1 entry name allowed
  shift
  shopt -s nullglob dotglob
  for entry in "$dir"/*; do
    name=${entry##*/}
    for allowed in "$@"; do
      [[ "$name" == "$allowed" ]] && continue 2
    done
    die "$dir holds $name, which the start script does not create; not removing it"
  done
  shopt -u nullglob dotglob
  rm -rf -- "$dir"
}
