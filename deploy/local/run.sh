#!/usr/bin/env bash
# Run the four Ilmo services on this machine (after `infra.sh up`).
#
#   deploy/local/run.sh start   start (or reuse) the services, create the sample
#                               seminar if absent, print the URLs, and stay in
#                               the foreground: Ctrl-C stops the services and
#                               the infrastructure infra.sh started
#   deploy/local/run.sh stop    stop the services this script started (pid files)
#
# Services are started from the project's virtual environment on their
# default ports (registration 8081, capacity 8082, notification 8083,
# streaming 8084); the other ILMO_* variables are passed on as they are.
# Secrets come from the environment or are generated once into git-ignored
# files (no secret lives in the repository): the registration API's admin
# token (ILMO_ADMIN_TOKEN, .local/admin-token), the key of the manage links in
# emails shared by registration and notification (ILMO_MANAGE_LINK_SECRET,
# .local/manage-link-secret) and the key of personal stream links
# (ILMO_STREAM_LINK_SECRET, .local/stream-link-secret).

set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

SERVICES=(registration capacity notification streaming)
declare -A PORTS=([registration]=8081 [capacity]=8082 [notification]=8083 [streaming]=8084)
VENV=${UV_PROJECT_ENVIRONMENT:-$REPO_ROOT/.venv}
ADMIN_TOKEN_FILE=$LOCAL_DIR/admin-token
MANAGE_LINK_SECRET_FILE=$LOCAL_DIR/manage-link-secret
STREAM_LINK_SECRET_FILE=$LOCAL_DIR/stream-link-secret
SAMPLE_EVENT=$SCRIPT_DIR/sample-event.json
SAMPLE_EVENT_ID=$(sed -n 's/^  "id": "\(.*\)",$/\1/p' "$SAMPLE_EVENT")

# The value of the environment variable named $1 if set, else a random secret
# (43 characters) generated once into the file $2.
local_secret() {
	local variable=$1 file=$2
	if [[ -n ${!variable:-} ]]; then
		printf '%s' "${!variable}"
		return 0
	fi
	if [[ ! -s $file ]]; then
		(umask 077 && "$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$file")
	fi
	cat "$file"
}

port_of() {
	printf '%s' "${PORTS[$1]}"
}

wait_ready() {
	local name=$1 url=$2 pid=$3 i
	for ((i = 0; i < 240; i++)); do
		curl -fsS -o /dev/null --max-time 2 "$url/health/ready" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || die "$name exited at start; see $(rel "$LOG_DIR/$name.log")"
		sleep 0.25
	done
	die "$name is not ready after 60 s; see $(rel "$LOG_DIR/$name.log")"
}

start_service() {
	local name=$1 port pidfile=$RUN_DIR/$1.pid pid
	port=$(port_of "$name")
	pid=$(our_pid "$pidfile" "ilmo-$name")
	if [[ -n $pid ]]; then
		report "$name" reused "http://127.0.0.1:$port (pid $pid)"
		return 0
	fi
	[[ -x $VENV/bin/ilmo-$name ]] || die "$name: $VENV/bin/ilmo-$name is missing; run make setup"
	ILMO_HTTP_PORT=$port ILMO_PUBLIC_BASE_URL=http://127.0.0.1:$port \
		ILMO_REGISTRATION_PUBLIC_URL=http://127.0.0.1:$(port_of registration) \
		ILMO_ADMIN_TOKEN=$ADMIN_TOKEN ILMO_MANAGE_LINK_SECRET=$MANAGE_LINK_SECRET \
		ILMO_STREAM_LINK_SECRET=$STREAM_LINK_SECRET \
		start_background "$name" "$pidfile" "$LOG_DIR/$name.log" "$VENV/bin/ilmo-$name"
	pid=$(read_pid "$pidfile")
	wait_ready "$name" "http://127.0.0.1:$port" "$pid"
	report "$name" started "http://127.0.0.1:$port (pid $pid)"
}

stop_services() {
	local name
	for name in "${SERVICES[@]}"; do
		stop_pid "$name" "$RUN_DIR/$name.pid" "ilmo-$name"
	done
}

any_service_running() {
	local name
	for name in "${SERVICES[@]}"; do
		[[ -n $(our_pid "$RUN_DIR/$name.pid" "ilmo-$name") ]] && return 0
	done
	return 1
}

create_sample_event() {
	local base status
	base=http://127.0.0.1:$(port_of registration)
	status=$(curl -sS -o /dev/null -w '%{http_code}' "$base/api/v1/events/$SAMPLE_EVENT_ID")
	if [[ $status == 200 ]]; then
		report sample exists "$base/api/v1/events/$SAMPLE_EVENT_ID"
		return 0
	fi
	status=$(curl -sS -o "$LOG_DIR/sample-event.response" -w '%{http_code}' \
		-H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
		--data-binary "@$SAMPLE_EVENT" "$base/api/v1/events")
	case $status in
	201) report sample created "$base/api/v1/events/$SAMPLE_EVENT_ID" ;;
	409) report sample exists "$base/api/v1/events/$SAMPLE_EVENT_ID (unpublished)" ;;
	*) die "creating the sample event answered HTTP $status; see $(rel "$LOG_DIR/sample-event.response")" ;;
	esac
}

print_urls() {
	local name
	cat <<EOT

Ilmo is running.
  API docs (registration)  http://127.0.0.1:$(port_of registration)/docs
  sample seminar           http://127.0.0.1:$(port_of registration)/api/v1/events/$SAMPLE_EVENT_ID
  admin token              $(rel "$ADMIN_TOKEN_FILE") (or ILMO_ADMIN_TOKEN)
EOT
	for name in "${SERVICES[@]}"; do
		printf '  %-24s http://127.0.0.1:%s/health/ready  /metrics\n' "$name" "$(port_of "$name")"
	done
	cat <<EOT
  RabbitMQ management      http://127.0.0.1:15672 (guest/guest)
  mail sent                ${ILMO_MAIL_SINK_DIR:-$LOCAL_DIR/mail}/*.eml
  logs                     $(rel "$LOG_DIR")/<service>.log

Ctrl-C stops everything (or run \`make stop\` elsewhere).
EOT
}

shutdown() {
	trap - INT TERM
	printf '\nstopping ...\n'
	stop_services
	"$SCRIPT_DIR/infra.sh" down
	exit 0
}

main() {
	case ${1:-} in
	start)
		ensure_dirs
		ADMIN_TOKEN=$(local_secret ILMO_ADMIN_TOKEN "$ADMIN_TOKEN_FILE")
		MANAGE_LINK_SECRET=$(local_secret ILMO_MANAGE_LINK_SECRET "$MANAGE_LINK_SECRET_FILE")
		STREAM_LINK_SECRET=$(local_secret ILMO_STREAM_LINK_SECRET "$STREAM_LINK_SECRET_FILE")
		trap shutdown INT TERM
		for name in "${SERVICES[@]}"; do
			start_service "$name"
		done
		create_sample_event
		print_urls
		# Stay in the foreground until interrupted, or until `make stop` elsewhere
		# has stopped the services (they run in their own sessions).
		while any_service_running; do
			sleep 2 &
			wait $! || true
		done
		printf 'the services were stopped elsewhere; done.\n'
		;;
	stop)
		ensure_dirs
		stop_services
		;;
	*)
		printf 'usage: %s start|stop\n' "$0" >&2
		exit 2
		;;
	esac
}

main "$@"
