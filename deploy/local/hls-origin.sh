#!/usr/bin/env bash
# The local HLS origin of signed playback: Debian's nginx, serving the live
# streams under .local/hls/streams/ only to URLs signed with the playback
# secret, in nginx's secure_link scheme (ilmo_streaming.playback;
# docs/operations.md, "The HLS origin for signed playback (local and tests)").
#
#   deploy/local/hls-origin.sh up                    start nginx (installing it if missing), or reuse it
#   deploy/local/hls-origin.sh down                  stop what this script started (pid file only)
#   deploy/local/hls-origin.sh status                show it; exit 1 if it does not answer
#   deploy/local/hls-origin.sh url STREAM [SECONDS]  print a signed URL of STREAM's playlist,
#                                                    valid for SECONDS (default 3600)
#
# deploy/local/hls-test-stream.sh NAME SECONDS makes a live test stream there.
#
#   ILMO_HLS_ORIGIN_ADDR   where nginx listens (default 127.0.0.1:8090; loopback only)
#   ILMO_PLAYBACK_SECRET   the signing secret, at least 32 characters of [A-Za-z0-9_-]
#                          (default: 64 hex digits generated once into .local/hls/secret)
#   ILMO_PLAYBACK_KEY_ID   the id the secret is known by in signed URLs (default 1)
#   ILMO_PLAYBACK_PREVIOUS_KEY_ID, ILMO_PLAYBACK_PREVIOUS_SECRET
#                          during a key rotation, the previous key, still accepted
#                          (docs/operations.md, "Rotating the playback key")
#   ILMO_LOCAL_DIR         the local state folder (default .local; tests use their own)
#
# The configuration is written from deploy/local/hls-origin.nginx.conf into
# .local/hls/nginx.conf, readable by its owner only, since it holds the
# secret. When this runs as root, nginx's workers run as nobody, so the
# streams' folder must be readable by everyone (it is made so here; a
# test's temporary folder must be too). An origin already answering at the
# address is reused; if this script started it, its configuration is
# rewritten and reloaded first.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

ORIGIN_ADDR=${ILMO_HLS_ORIGIN_ADDR:-127.0.0.1:8090}
STATE_DIR=$LOCAL_DIR/hls
STREAMS_DIR=$STATE_DIR/streams
SECRET_FILE=$STATE_DIR/secret
CONFIG_TEMPLATE=$SCRIPT_DIR/hls-origin.nginx.conf
CONFIG=$STATE_DIR/nginx.conf
PIDFILE=$RUN_DIR/hls-origin.pid
LOG=$LOG_DIR/hls-origin.log
# The same patterns as ilmo_streaming.playback (SECRET, STREAM_NAME).
SECRET_PATTERN='^[A-Za-z0-9_-]{32,}$'
KEY_ID_PATTERN='^[A-Za-z0-9_-]{1,16}$'
KEY_ID=${ILMO_PLAYBACK_KEY_ID:-1}
STREAM_PATTERN='^[A-Za-z0-9_-]+$'
# Where the workers run as nobody (started by root), the group they get.
WORKER_USER='nobody nogroup'

origin_url() {
	printf 'http://%s' "$ORIGIN_ADDR"
}

# origin_answers: 0 if this kind of origin answers at ORIGIN_ADDR, 1 if
# nothing listens there, 2 if something else does.
origin_answers() {
	parse_url "$(origin_url)" 80
	port_open "$URL_HOST" "$URL_PORT" || return 1
	[[ $(curl -fsS --max-time 3 "$(origin_url)/health" 2>/dev/null) == ilmo-hls-origin ]] || return 2
}

origin_owner() {
	local pid
	pid=$(our_pid "$PIDFILE" "$CONFIG")
	if [[ -n $pid ]]; then
		printf 'started by hls-origin.sh, pid %s' "$pid"
	else
		printf 'not started by hls-origin.sh; its secret is its own'
	fi
}

# The secret: ILMO_PLAYBACK_SECRET, else the one generated once into
# SECRET_FILE (only when $1 is "make"). Printed; dies if there is none.
playback_secret() {
	local secret
	if [[ -n ${ILMO_PLAYBACK_SECRET:-} ]]; then
		secret=$ILMO_PLAYBACK_SECRET
	else
		if [[ ! -s $SECRET_FILE && ${1:-} == make ]]; then
			mkdir -p "$STATE_DIR"
			(umask 077 && random_hex >"$SECRET_FILE.tmp" && mv -f "$SECRET_FILE.tmp" "$SECRET_FILE")
		fi
		[[ -s $SECRET_FILE ]] ||
			die "hls-origin: no playback secret: set ILMO_PLAYBACK_SECRET, or run \`$0 up\` to make $(rel "$SECRET_FILE")"
		read -r secret <"$SECRET_FILE"
	fi
	[[ $secret =~ $SECRET_PATTERN ]] ||
		die "hls-origin: the playback secret must be at least 32 characters of [A-Za-z0-9_-] (it is written into nginx's configuration as it is)"
	printf '%s' "$secret"
}

# The configuration from the template, checked by `nginx -t` before it replaces the old one.
write_config() {
	local nginx=$1 secret tmp=$CONFIG.tmp user_directive= previous=
	secret=$(playback_secret make)
	[[ $KEY_ID =~ $KEY_ID_PATTERN ]] ||
		die "hls-origin: ILMO_PLAYBACK_KEY_ID must be 1 to 16 characters of [A-Za-z0-9_-]"
	if [[ -n ${ILMO_PLAYBACK_PREVIOUS_KEY_ID:-} ]]; then
		[[ $ILMO_PLAYBACK_PREVIOUS_KEY_ID =~ $KEY_ID_PATTERN && $ILMO_PLAYBACK_PREVIOUS_KEY_ID != "$KEY_ID" ]] ||
			die "hls-origin: ILMO_PLAYBACK_PREVIOUS_KEY_ID must be 1 to 16 characters of [A-Za-z0-9_-], not the current key's id"
		[[ ${ILMO_PLAYBACK_PREVIOUS_SECRET:-} =~ $SECRET_PATTERN ]] ||
			die "hls-origin: ILMO_PLAYBACK_PREVIOUS_SECRET must be at least 32 characters of [A-Za-z0-9_-]"
		previous="        \"$ILMO_PLAYBACK_PREVIOUS_KEY_ID\" \"$ILMO_PLAYBACK_PREVIOUS_SECRET\";"
	fi
	# nginx makes its temporary folders itself, but not the one above them.
	mkdir -p "$STATE_DIR/temp"
	if [[ $(id -u) -eq 0 ]]; then
		user_directive="user $WORKER_USER;"
	fi
	(
		umask 077
		sed -e "s|@USER_DIRECTIVE@|$user_directive|" -e "s|@STATE_DIR@|$STATE_DIR|g" \
			-e "s|@LOG_DIR@|$LOG_DIR|g" -e "s|@STREAMS_DIR@|$STREAMS_DIR|g" \
			-e "s|@LISTEN@|$ORIGIN_ADDR|g" -e "s|@SECRET@|$secret|g" \
			-e "s|@KEY_ID@|$KEY_ID|g" -e "s|^@PREVIOUS_KEY@\$|$previous|" \
			"$CONFIG_TEMPLATE" >"$tmp"
	)
	if ! "$nginx" -t -q -e "$LOG" -c "$tmp" >>"$LOG" 2>&1; then
		rm -f "$tmp"
		die "hls-origin: the configuration written from $(rel "$CONFIG_TEMPLATE") is not valid; see $(rel "$LOG")"
	fi
	mv -f "$tmp" "$CONFIG"
}

# Root's nginx serves the files as nobody: every folder down to the streams
# must let nobody in.
streams_readable() {
	mkdir -p "$STREAMS_DIR"
	chmod 755 "$STATE_DIR" "$STREAMS_DIR"
	[[ $(id -u) -eq 0 ]] || return 0
	# shellcheck disable=SC2016 # expanded by the inner sh
	su nobody -s /bin/sh -c 'test -r "$0" && test -x "$0"' "$STREAMS_DIR" 2>/dev/null ||
		die "hls-origin: nginx's workers (user nobody) cannot read $STREAMS_DIR; make the folders above it readable by all (chmod 755)"
}

origin_up() {
	local rc=0 nginx pid i
	parse_url "$(origin_url)" 80
	is_loopback "$URL_HOST" || die "hls-origin: ILMO_HLS_ORIGIN_ADDR=$ORIGIN_ADDR is not a loopback address"
	origin_answers || rc=$?
	if [[ $rc -eq 2 ]]; then
		die "hls-origin: something answers at $ORIGIN_ADDR (ILMO_HLS_ORIGIN_ADDR), but not as the HLS origin"
	fi
	"$SCRIPT_DIR/hls-tools.sh" >/dev/null
	nginx=$(system_command nginx)
	streams_readable
	if [[ $rc -eq 0 ]]; then
		pid=$(our_pid "$PIDFILE" "$CONFIG")
		if [[ -n $pid ]]; then
			# Ours: take up the template's and the secret's changes.
			write_config "$nginx"
			kill -HUP "$pid"
		fi
		report hls-origin reused "$(origin_url)/hls/ -> $(rel "$STREAMS_DIR") ($(origin_owner))"
		return 0
	fi
	write_config "$nginx"
	start_background hls-origin "$PIDFILE" "$LOG" "$nginx" -e "$LOG" -c "$CONFIG"
	pid=$(read_pid "$PIDFILE")
	for ((i = 0; i < 80; i++)); do
		origin_answers && break
		kill -0 "$pid" 2>/dev/null || die "hls-origin: nginx exited at start; see $(rel "$LOG")"
		sleep 0.25
	done
	origin_answers || die "hls-origin: nginx did not answer at $ORIGIN_ADDR within 20 s; see $(rel "$LOG")"
	report hls-origin started "$(origin_url)/hls/ -> $(rel "$STREAMS_DIR"), secret $(secret_source) (pid $pid)"
}

secret_source() {
	if [[ -n ${ILMO_PLAYBACK_SECRET:-} ]]; then
		printf 'ILMO_PLAYBACK_SECRET'
	else
		printf 'in %s' "$(rel "$SECRET_FILE")"
	fi
}

origin_status() {
	local rc=0
	origin_answers || rc=$?
	case $rc in
	0) report hls-origin up "$(origin_url)/hls/ -> $(rel "$STREAMS_DIR") ($(origin_owner))" ;;
	1) report hls-origin down "$(origin_url) does not answer" ;;
	*) report hls-origin wrong "$(origin_url) answers, but not as the HLS origin" ;;
	esac
	[[ $rc -eq 0 ]]
}

# A signed URL of a stream's playlist, in nginx's documented recipe (MD5,
# base64url without padding); the service signs with ilmo_streaming.playback,
# and the integration test checks that both are accepted.
signed_url() {
	local stream=$1 seconds=${2:-3600} holder=local secret expires md5
	[[ $stream =~ $STREAM_PATTERN ]] || die "hls-origin: a stream name is [A-Za-z0-9_-]+, not '$stream'"
	[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "hls-origin: SECONDS must be a positive whole number, not '$seconds'"
	command -v openssl >/dev/null || die "hls-origin: openssl is missing (apt-get install openssl)"
	secret=$(playback_secret)
	expires=$(($(date +%s) + seconds))
	md5=$(printf '%s' "$expires/$holder/$stream $secret" | openssl md5 -binary | openssl base64 | tr +/ -_ | tr -d =)
	printf '%s/hls/%s/%s/%s/%s/%s/index.m3u8\n' "$(origin_url)" "$KEY_ID" "$md5" "$expires" "$holder" "$stream"
}

usage() {
	printf 'usage: %s up|down|status|url STREAM [SECONDS]\n' "$0" >&2
	exit 2
}

main() {
	[[ $# -ge 1 ]] || usage
	case $1 in
	up | down | status) [[ $# -eq 1 ]] || usage ;;
	url) [[ $# -eq 2 || $# -eq 3 ]] || usage ;;
	*) usage ;;
	esac
	case $1 in
	up)
		ensure_dirs
		take_lock
		origin_up
		;;
	down)
		ensure_dirs
		take_lock
		stop_pid hls-origin "$PIDFILE" "$CONFIG"
		;;
	status) origin_status ;;
	url) signed_url "${@:2}" ;;
	esac
}

main "$@"
