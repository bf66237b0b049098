#!/usr/bin/env bash
# Real mail servers for integration tests: a postfix and a dovecot instance that live
# entirely under one folder, listen on 127.0.0.1 only, and need no systemd or syslog.
#
#   scripts/mail-servers.sh start DIR        set up and start both; writes DIR/env
#   scripts/mail-servers.sh stop DIR         stop both (safe to call twice)
#   scripts/mail-servers.sh stop-smtp DIR    stop postfix only (an SMTP outage)
#   scripts/mail-servers.sh start-smtp DIR   start postfix again on the same ports
#   scripts/mail-servers.sh add-user DIR     hands out a mailbox no one has had yet
#                                            (boxN@localhost, with a password of its own);
#                                            prints MAIL_USER, MAIL_PASSWORD, MAILDIR lines
#   scripts/mail-servers.sh reap DIR         wait until standard input closes (the test
#                                            process that holds it ended, however it
#                                            ended), then stop both and remove DIR
#
# DIR/env holds shell-sourceable KEY=VALUE lines: SMTP_HOST, SMTP_PORT_STARTTLS,
# SMTP_PORT_TLS, SMTP_PORT_PLAIN, IMAP_PORT_STARTTLS, IMAP_PORT_TLS, MAIL_USER,
# MAIL_PASSWORD, CA_FILE, MAILDIR (the first mailbox, checker@localhost). Ports are picked
# free unless given in the environment under the same names. Several instances in
# different folders can run at once, and many tests can share one, each with a mailbox of
# its own (add-user): user+anything@localhost lands in user's mailbox, and mail to any
# other local address is refused (550). MAIL_BOXES (default 200) mailboxes are made at
# start: postfix allows no substitution in a mailbox map, and reads its maps only at
# start, so they are listed one by one before it runs.
# MAIL_SERVERS_START_WAIT (seconds, default 20) bounds the wait for the ports to open.
# MAIL_CERT=cn-only gives the servers a self-signed certificate that names the host in its
# CN only (no subjectAltName), as many small servers have; CA_FILE is then that very
# certificate. By default they get one signed by a test CA, for localhost and 127.0.0.1.
#
# Needs root (postfix's master runs as root) and the packages that
# scripts/install-test-deps.sh installs. The facts behind this script are in
# shared/notes/mail-test-servers.md.
set -euo pipefail

HOST=127.0.0.1
MAIL_DOMAIN=localhost
MAIL_LOCAL=checker
# The uid/gid that owns the mailbox, for postfix's virtual delivery and dovecot alike:
# no system account has to be created for the test user.
MAIL_UID=$(id -u nobody)
MAIL_GID=$(id -g nobody)
START_WAIT=${MAIL_SERVERS_START_WAIT:-20}
MAIL_BOXES=${MAIL_BOXES:-200}
# /etc/postfix/main.cf must list every alternate config folder; edits are serialised.
DEFAULT_MAIN_CF=/etc/postfix/main.cf
MAIN_CF_LOCK=/run/lock/checker-test-postfix.lock

log() { echo "mail-servers: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() {
    echo "usage: $0 start|stop|stop-smtp|start-smtp|add-user|reap DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
CMD=$1
if [ "$CMD" = start ]; then
    mkdir -p "$2" 2>/dev/null || true
elif [ "$CMD" = stop ] && [ ! -e "$2" ]; then
    exit 0
fi
[ -d "$2" ] || die "$2 is not a folder"
DIR=$(cd "$2" && pwd -P)

PF_CONF=$DIR/postfix/conf
PF_QUEUE=$DIR/postfix/queue
PF_DATA=$DIR/postfix/data
PF_LOG=$DIR/postfix/maillog
DC_DIR=$DIR/dovecot
DC_CONF=$DC_DIR/dovecot.conf
DC_RUN=$DC_DIR/run
DC_LOG=$DC_DIR/dovecot.log
TLS_DIR=$DIR/tls
MAIL_BASE=$DIR/mail

need_root() {
    [ "$(id -u)" -eq 0 ] || die "must run as root: postfix's master process needs it (run the tests as root, e.g. in the CI container)"
}

need_tools() {
    local missing=()
    for tool in postfix postconf dovecot doveconf openssl python3 flock; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    [ -x /usr/lib/dovecot/imap ] || missing+=("dovecot-imapd")
    [ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}; run scripts/install-test-deps.sh first"
}

# Prints N distinct free TCP ports on 127.0.0.1 (held together while picking, so distinct).
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

port_open() {
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# Waits until every port accepts connections; false after START_WAIT seconds.
wait_ports() {
    local deadline=$((SECONDS + START_WAIT)) p
    for p in "$@"; do
        until port_open "$p"; do
            [ $SECONDS -lt $deadline ] || return 1
            sleep 0.05
        done
    done
}

# True while pid $1 runs. An exited daemon stays a zombie until init reaps it, which can
# take seconds; it counts as gone.
running() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# Waits until pid $1 is gone (bounded, 10 s); true if it is.
wait_gone() {
    local pid=$1
    for _ in $(seq 1 200); do
        running "$pid" || return 0
        sleep 0.05
    done
    return 1
}

fail_with_log() {
    local what=$1 logfile=$2
    log "ERROR: $what"
    if [ -f "$logfile" ]; then
        log "last lines of $logfile:"
        tail -n 30 "$logfile" >&2
    else
        log "($logfile does not exist)"
    fi
    exit 1
}

# Postfix programs reading a config file modified less than a second ago wait, in 1 s
# steps, until it is stable (dict_load_file); date freshly written files a little back so
# every postfix command does not pause for up to 2 s.
backdate() {
    touch -d "@$(($(date +%s) - 10))" "$@"
}

# --- /etc/postfix/main.cf: alternate_config_directories --------------------------------

# Adds (or with "remove", removes) PF_CONF to alternate_config_directories, dropping
# entries whose folder no longer exists (left by killed test runs).
register_postfix_conf() {
    local action=$1
    mkdir -p "$(dirname "$MAIN_CF_LOCK")"
    (
        flock -w 30 9 || die "could not lock $MAIN_CF_LOCK"
        [ -f "$DEFAULT_MAIN_CF" ] || : >"$DEFAULT_MAIN_CF"
        local current keep=() d
        current=$(postconf -c /etc/postfix -h alternate_config_directories 2>/dev/null || true)
        for d in ${current//,/ }; do
            [ "$d" = "$PF_CONF" ] && continue
            # Keep what others configured; prune only our own kind of stale entry.
            if [[ "$d" == */postfix/conf ]] && [ ! -d "$d" ]; then continue; fi
            keep+=("$d")
        done
        [ "$action" = add ] && keep+=("$PF_CONF")
        local new="${keep[*]:-}"
        if [ "$new" != "$current" ]; then
            # postconf -e replaces the file atomically (temp file and rename).
            postconf -c /etc/postfix -e "alternate_config_directories = $new" \
                || die "could not update alternate_config_directories in $DEFAULT_MAIN_CF"
            backdate "$DEFAULT_MAIN_CF"
        fi
    ) 9>"$MAIN_CF_LOCK"
}

# --- setup ------------------------------------------------------------------------------

make_certs() {
    mkdir -p "$TLS_DIR"
    [ -f "$TLS_DIR/server.crt" ] && return 0
    if [ "${MAIL_CERT:-ca}" = cn-only ]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
            -subj "/CN=mail.checker.test" \
            -keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.crt" 2>/dev/null \
            || die "openssl could not make the CN-only certificate"
        cp "$TLS_DIR/server.crt" "$TLS_DIR/ca.crt"
        chmod 0600 "$TLS_DIR/server.key"
        chmod 0644 "$TLS_DIR/server.crt" "$TLS_DIR/ca.crt"
        return 0
    fi
    local cnf=$TLS_DIR/server.cnf
    cat >"$cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
[ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
EOF
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=checker test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.crt" 2>/dev/null \
        || die "openssl could not make the test CA"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -config "$cnf" \
        -keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.csr" 2>/dev/null \
        || die "openssl could not make the server key"
    openssl x509 -req -in "$TLS_DIR/server.csr" -CA "$TLS_DIR/ca.crt" -CAkey "$TLS_DIR/ca.key" \
        -CAcreateserial -days 3650 -extfile "$cnf" -extensions ext -out "$TLS_DIR/server.crt" 2>/dev/null \
        || die "openssl could not sign the server certificate"
    # Postfix and dovecot read the key as root before dropping privileges.
    chmod 0600 "$TLS_DIR/server.key" "$TLS_DIR/ca.key"
    chmod 0644 "$TLS_DIR/server.crt" "$TLS_DIR/ca.crt"
}

write_postfix_conf() {
    mkdir -p "$PF_CONF" "$PF_QUEUE" "$PF_DATA"
    chown postfix:postfix "$PF_DATA"
    cat >"$PF_CONF/main.cf" <<EOF
# Test instance written by scripts/mail-servers.sh; lives under $DIR only.
compatibility_level = 3.6
queue_directory = $PF_QUEUE
data_directory = $PF_DATA
maillog_file = $PF_LOG
maillog_file_prefixes = $DIR
syslog_name = postfix-checker-test
myhostname = mail.checker.test
mydomain = checker.test
myorigin = \$myhostname
mydestination =
inet_interfaces = $HOST
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtp_dns_support_level = disabled
alias_maps =
alias_database =
local_recipient_maps =
# Delivery to the test mailboxes only (checker, box1, box2...); anything else fails at once
# instead of queueing. user+anything@localhost reaches user's mailbox: tests of several
# recipients.
recipient_delimiter = +
virtual_mailbox_domains = $MAIL_DOMAIN
virtual_mailbox_base = $MAIL_BASE
virtual_mailbox_maps = regexp:$PF_CONF/mailboxes.regexp
virtual_uid_maps = static:$MAIL_UID
virtual_gid_maps = static:$MAIL_GID
default_transport = error:the test server delivers to $MAIL_DOMAIN only
relay_transport = error:the test server delivers to $MAIL_DOMAIN only
# AUTH through dovecot; every port requires it before RCPT.
smtpd_sasl_type = dovecot
smtpd_sasl_path = $DC_RUN/auth-postfix
smtpd_sasl_auth_enable = yes
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
smtpd_tls_cert_file = $TLS_DIR/server.crt
smtpd_tls_key_file = $TLS_DIR/server.key
smtpd_tls_security_level = may
smtpd_tls_auth_only = no
smtpd_tls_session_cache_database =
smtpd_banner = \$myhostname ESMTP checker test server
biff = no
EOF
    # No chroot: the instance's paths are outside any chroot jail. tlsmgr is needed for
    # STARTTLS ("454 TLS not available due to local problem" without it); postlog for
    # maillog_file.
    cat >"$PF_CONF/master.cf" <<EOF
$HOST:$SMTP_PORT_STARTTLS inet n - n - - smtpd
  -o syslog_name=postfix-checker-test/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
$HOST:$SMTP_PORT_TLS inet n - n - - smtpd
  -o syslog_name=postfix-checker-test/smtps
  -o smtpd_tls_wrappermode=yes
$HOST:$SMTP_PORT_PLAIN inet n - n - - smtpd
  -o syslog_name=postfix-checker-test/plain
  -o smtpd_tls_security_level=none
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    local box
    {
        for box in "$MAIL_LOCAL" "${BOXES[@]}"; do
            printf '/^%s(\\+[^@]*)?@%s$/ %s/Maildir/\n' "$box" "${MAIL_DOMAIN//./\\.}" "$box"
        done
    } >"$PF_CONF/mailboxes.regexp"
    backdate "$PF_CONF/main.cf" "$PF_CONF/master.cf" "$PF_CONF/mailboxes.regexp"
}

write_dovecot_conf() {
    mkdir -p "$DC_DIR" "$DC_RUN" "$DC_DIR/state"
    {
        user_line "$MAIL_USER" "$MAIL_PASSWORD"
        local i
        for i in "${!BOXES[@]}"; do
            user_line "${BOXES[$i]}@$MAIL_DOMAIN" "${BOX_PASSWORDS[$i]}"
        done
    } >"$DC_DIR/users"
    chmod 0644 "$DC_DIR/users"
    local dh=""
    [ -f /usr/share/dovecot/dh.pem ] && dh="ssl_dh = </usr/share/dovecot/dh.pem"
    # Blocks open and close on their own lines: one-line blocks are a syntax error.
    cat >"$DC_CONF" <<EOF
# Test instance written by scripts/mail-servers.sh; lives under $DIR only.
base_dir = $DC_RUN
state_dir = $DC_DIR/state
instance_name = checker-test-$(printf '%s' "$DIR" | md5sum | cut -c1-12)
log_path = $DC_LOG
protocols = imap
listen = $HOST
ssl = yes
ssl_cert = <$TLS_DIR/server.crt
ssl_key = <$TLS_DIR/server.key
$dh
disable_plaintext_auth = no
auth_mechanisms = plain login
# A wrong password is answered at once (the default waits 2 s): tests of wrong logins.
auth_failure_delay = 0
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DC_DIR/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $DC_DIR/users
}
service imap-login {
  inet_listener imap {
    address = $HOST
    port = $IMAP_PORT_STARTTLS
  }
  inet_listener imaps {
    address = $HOST
    port = $IMAP_PORT_TLS
    ssl = yes
  }
}
service auth {
  unix_listener auth-postfix {
    mode = 0666
  }
}
EOF
}

# The mailboxes: checker's, and MAIL_BOXES more (box1...) for add-user to hand out, each
# with a password of its own (BOXES and BOX_PASSWORDS).
make_boxes() {
    local i hex dirs=()
    hex=$(openssl rand -hex $((12 * MAIL_BOXES)))
    BOXES=()
    BOX_PASSWORDS=()
    for ((i = 1; i <= MAIL_BOXES; i++)); do
        BOXES+=("box$i")
        BOX_PASSWORDS+=("${hex:$(((i - 1) * 24)):24}")
    done
    for box in "$MAIL_LOCAL" "${BOXES[@]}"; do
        dirs+=("$MAIL_BASE/$box/Maildir/new" "$MAIL_BASE/$box/Maildir/cur" "$MAIL_BASE/$box/Maildir/tmp")
    done
    mkdir -p "${dirs[@]}"
    chown -R "$MAIL_UID:$MAIL_GID" "$MAIL_BASE"
    chmod -R u+rwX "$MAIL_BASE"
    chmod 0711 "$MAIL_BASE"
}

# A passwd-file line for dovecot (and postfix's SASL through it).
user_line() {
    printf '%s:{PLAIN}%s:%s:%s::%s::\n' "$1" "$2" "$MAIL_UID" "$MAIL_GID" "$MAIL_BASE/${1%@*}"
}

# Hands out the next mailbox no one has had (box1, box2...) and prints its env lines.
cmd_add_user() {
    load_env
    local n line user password
    (
        flock -w 30 9 || die "could not lock $DC_DIR/boxes.next"
        n=$(cat "$DC_DIR/boxes.next" 2>/dev/null || echo 1)
        [ "$n" -le "${MAIL_BOXES:-0}" ] \
            || die "all ${MAIL_BOXES:-0} mailboxes under $DIR are handed out; start the servers with a larger MAIL_BOXES"
        echo $((n + 1)) >"$DC_DIR/boxes.next"
        user=box$n@$MAIL_DOMAIN
        line=$(grep -m1 "^$user:" "$DC_DIR/users") || die "$user is not in $DC_DIR/users"
        password=${line#*:\{PLAIN\}}
        password=${password%%:*}
        printf 'MAIL_USER=%s\nMAIL_PASSWORD=%s\nMAILDIR=%s\n' "$user" "$password" "$MAIL_BASE/box$n/Maildir"
    ) 9>"$DC_DIR/boxes.lock"
}

# Waits for standard input to close, then stops the servers and removes DIR. Started by a
# test process that keeps the other end of the pipe: the servers outlive no test run.
cmd_reap() {
    trap '' INT HUP TERM
    cat >/dev/null || true
    cmd_stop
    rm -rf "$DIR"
}

write_env() {
    cat >"$DIR/env.tmp" <<EOF
SMTP_HOST=$HOST
SMTP_PORT_STARTTLS=$SMTP_PORT_STARTTLS
SMTP_PORT_TLS=$SMTP_PORT_TLS
SMTP_PORT_PLAIN=$SMTP_PORT_PLAIN
IMAP_HOST=$HOST
IMAP_PORT_STARTTLS=$IMAP_PORT_STARTTLS
IMAP_PORT_TLS=$IMAP_PORT_TLS
MAIL_USER=$MAIL_USER
MAIL_PASSWORD=$MAIL_PASSWORD
CA_FILE=$TLS_DIR/ca.crt
MAILDIR=$MAIL_BASE/$MAIL_LOCAL/Maildir
MAIL_BOXES=$MAIL_BOXES
EOF
    mv "$DIR/env.tmp" "$DIR/env"
}

# --- start and stop ---------------------------------------------------------------------

postfix_pid() {
    local f=$PF_QUEUE/pid/master.pid pid
    [ -f "$f" ] || return 1
    pid=$(tr -d ' \n' <"$f")
    [ -n "$pid" ] && running "$pid" && echo "$pid"
}

dovecot_pid() {
    local f=$DC_RUN/master.pid pid
    [ -f "$f" ] || return 1
    pid=$(tr -d ' \n' <"$f")
    [ -n "$pid" ] && running "$pid" && echo "$pid"
}

start_postfix() {
    postfix_pid >/dev/null && return 0
    # Daemons inherit stdout/stderr: a caller reading our output through a pipe would
    # never see it close.
    postfix -c "$PF_CONF" start </dev/null >>"$DIR/postfix/start.out" 2>&1 \
        || fail_with_log "postfix did not start (output in $DIR/postfix/start.out)" "$PF_LOG"
    wait_ports "$SMTP_PORT_STARTTLS" "$SMTP_PORT_TLS" "$SMTP_PORT_PLAIN" \
        || fail_with_log "postfix did not accept connections on $HOST:$SMTP_PORT_STARTTLS/$SMTP_PORT_TLS/$SMTP_PORT_PLAIN within ${START_WAIT}s" "$PF_LOG"
}

stop_postfix() {
    local pid
    pid=$(postfix_pid) || return 0
    # What `postfix stop` does, without its polling in whole seconds: SIGTERM makes the
    # master stop its children and exit.
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid"; then
        log "postfix master $pid did not stop in 10s; killing it"
        kill -9 "$pid" 2>/dev/null || true
        wait_gone "$pid" || die "postfix master $pid would not die"
    fi
    # Children get SIGTERM from the master; wait until the ports are really free so a
    # restart on the same ports works.
    for _ in $(seq 1 100); do
        port_open "$SMTP_PORT_STARTTLS" || port_open "$SMTP_PORT_TLS" || port_open "$SMTP_PORT_PLAIN" || return 0
        sleep 0.05
    done
}

start_dovecot() {
    dovecot_pid >/dev/null && return 0
    dovecot -c "$DC_CONF" </dev/null >>"$DC_DIR/start.out" 2>&1 \
        || fail_with_log "dovecot did not start: $(tail -n 5 "$DC_DIR/start.out")" "$DC_LOG"
    wait_ports "$IMAP_PORT_STARTTLS" "$IMAP_PORT_TLS" \
        || fail_with_log "dovecot did not accept connections on $HOST:$IMAP_PORT_STARTTLS/$IMAP_PORT_TLS within ${START_WAIT}s" "$DC_LOG"
    for _ in $(seq 1 200); do
        [ -S "$DC_RUN/auth-postfix" ] && return 0
        sleep 0.05
    done
    fail_with_log "dovecot did not create its auth socket $DC_RUN/auth-postfix" "$DC_LOG"
}

stop_dovecot() {
    local pid
    pid=$(dovecot_pid) || return 0
    # As `dovecot stop` does, without its polling in whole seconds.
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid"; then
        log "dovecot master $pid did not stop in 10s; killing it"
        kill -9 "$pid" 2>/dev/null || true
        wait_gone "$pid" || die "dovecot master $pid would not die"
    fi
}

load_env() {
    [ -f "$DIR/env" ] || die "$DIR/env not found: run '$0 start $DIR' first"
    # shellcheck disable=SC1091
    . "$DIR/env"
}

cmd_start() {
    need_root
    need_tools
    # The unix sockets live under DIR; their paths must fit in sun_path (108 bytes).
    [ ${#DC_RUN} -le 60 ] || die "$DIR is too long a path for dovecot's sockets; use a shorter one (e.g. under /tmp)"
    if dovecot_pid >/dev/null || postfix_pid >/dev/null; then
        die "servers already running under $DIR; run '$0 stop $DIR' first"
    fi
    local given_ports=1
    if [ -z "${SMTP_PORT_STARTTLS:-}" ] || [ -z "${SMTP_PORT_TLS:-}" ] || [ -z "${SMTP_PORT_PLAIN:-}" ] \
        || [ -z "${IMAP_PORT_STARTTLS:-}" ] || [ -z "${IMAP_PORT_TLS:-}" ]; then
        given_ports=0
        read -r SMTP_PORT_STARTTLS SMTP_PORT_TLS SMTP_PORT_PLAIN IMAP_PORT_STARTTLS IMAP_PORT_TLS < <(free_ports 5)
    fi
    MAIL_USER=${MAIL_USER:-$MAIL_LOCAL@$MAIL_DOMAIN}
    [ "$MAIL_USER" = "$MAIL_LOCAL@$MAIL_DOMAIN" ] || die "MAIL_USER must be $MAIL_LOCAL@$MAIL_DOMAIN"
    MAIL_PASSWORD=${MAIL_PASSWORD:-$(openssl rand -hex 12)}

    # Traversable by the unprivileged users that deliver and serve the mail.
    chmod 0711 "$DIR"
    mkdir -p "$MAIL_BASE" "$DIR/postfix"
    chmod 0711 "$MAIL_BASE" "$DIR/postfix"
    make_certs
    make_boxes
    write_postfix_conf
    write_dovecot_conf
    write_env
    register_postfix_conf add

    local attempt
    for attempt in 1 2 3; do
        rm -f "$DC_LOG" "$DC_DIR/start.out" "$PF_LOG" "$DIR/postfix/start.out"
        if start_dovecot_attempt && start_postfix_attempt; then
            log "started under $DIR: SMTP starttls=$SMTP_PORT_STARTTLS tls=$SMTP_PORT_TLS plain=$SMTP_PORT_PLAIN, IMAP starttls=$IMAP_PORT_STARTTLS tls=$IMAP_PORT_TLS"
            return 0
        fi
        # A port picked free was taken by someone else before we bound it: pick again.
        stop_postfix
        stop_dovecot
        if [ $given_ports -eq 1 ] || [ $attempt -eq 3 ]; then break; fi
        log "a port was taken before the servers bound it; picking new ports"
        read -r SMTP_PORT_STARTTLS SMTP_PORT_TLS SMTP_PORT_PLAIN IMAP_PORT_STARTTLS IMAP_PORT_TLS < <(free_ports 5)
        write_postfix_conf
        write_dovecot_conf
        write_env
    done
    # Report the real failure, with the logs.
    start_dovecot
    start_postfix
}

# Like start_dovecot/start_postfix, but false (not exit) on an address-in-use failure so
# the caller can retry with other ports; any other failure exits with the log.
start_dovecot_attempt() {
    (start_dovecot) && return 0
    grep -q 'Address already in use' "$DC_LOG" "$DC_DIR/start.out" 2>/dev/null && return 1
    exit 1
}

start_postfix_attempt() {
    (start_postfix) && return 0
    grep -q 'Address already in use' "$PF_LOG" 2>/dev/null && return 1
    exit 1
}

cmd_stop() {
    [ -d "$DIR" ] || return 0
    if [ -f "$DIR/env" ]; then load_env; fi
    SMTP_PORT_STARTTLS=${SMTP_PORT_STARTTLS:-0} SMTP_PORT_TLS=${SMTP_PORT_TLS:-0} SMTP_PORT_PLAIN=${SMTP_PORT_PLAIN:-0}
    if [ -d "$PF_QUEUE" ]; then stop_postfix; fi
    if [ -f "$DC_CONF" ]; then stop_dovecot; fi
    if [ -d "$PF_CONF" ] && [ "$(id -u)" -eq 0 ]; then register_postfix_conf remove; fi
    return 0
}

case $CMD in
    start) cmd_start ;;
    stop) cmd_stop ;;
    stop-smtp)
        load_env
        stop_postfix
        ;;
    start-smtp)
        need_root
        load_env
        start_postfix
        ;;
    add-user) cmd_add_user ;;
    reap) cmd_reap ;;
    *) usage ;;
esac
