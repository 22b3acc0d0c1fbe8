#!/usr/bin/env bash
# Run the four Ilmo services on this machine (after `infra.sh up`), supervised.
#
#   deploy/local/run.sh start   up, then create the sample seminar if absent,
#                               print the URLs and stay in the foreground,
#                               showing supervisord's restarts as they happen:
#                               Ctrl-C stops the services and the
#                               infrastructure infra.sh started
#   deploy/local/run.sh up      start (or reuse) supervisord with the four
#                               services, wait until each is ready, and return
#   deploy/local/run.sh status  the state of each service (supervisorctl status)
#   deploy/local/run.sh stop    stop supervisord and with it the services
#
# supervisord (the PyPI `supervisor` in the project's virtual environment)
# runs each service from a configuration written at every start into
# .local/run/supervisord.conf (mode 0600: it holds the secrets). A service
# that dies is restarted, as systemd's Restart=on-failure would: one that has
# stayed up START_SECONDS at once, one that dies sooner after 1, 2, 3 ... s,
# and after START_RETRIES such quick deaths in a row it is given up (FATAL).
# Exit code 2, a bad setting, is not restarted: restarting cannot fix it.
# Every start, exit and restart is a line in .local/log/supervisord.log; each
# service's own output goes to .local/log/<service>.log. Stopping sends
# SIGTERM and allows STOP_WAIT_SECONDS for the graceful shutdown before
# SIGKILL.
#
# Ports default to registration 8081, capacity 8082, notification 8083 and
# streaming 8084; ILMO_RUN_<SERVICE>_PORT (e.g. ILMO_RUN_CAPACITY_PORT)
# overrides one. Each service's operations listener (metrics, API docs,
# operator counts; docs/operations.md) is on 9081-9084 in the same order,
# on 127.0.0.1; ILMO_RUN_<SERVICE>_OPERATIONS_PORT overrides one. Databases are ilmo_<service>; ILMO_RUN_DATABASE_PREFIX
# replaces the ilmo_, and is also the registration service's key prefix in
# Redis (ILMO_REDIS_URL, default redis://127.0.0.1:6379/0). ILMO_LOCAL_DIR moves the state folder (.local), and
# with it the supervisord this script starts or reuses: tests run their own
# beside a developer's. The notification service talks plain SMTP to the
# local sink (ILMO_SMTP_TLS=none unless set). The other ILMO_* variables
# reach the services as they are, through the environment supervisord was
# started in (a reused supervisord keeps its own; `make stop` first to change
# them).
#
# Secrets come from the environment or are generated once into git-ignored
# files (no secret lives in the repository): the development token, which
# every service accepts as a bearer token with every role, for the admin API,
# metrics and docs without the identity provider (ILMO_DEVELOPMENT_TOKEN,
# .local/development-token; never in production), the key of the manage links in
# emails shared by registration and notification (ILMO_MANAGE_LINK_SECRET,
# .local/manage-link-secret) and the key of personal stream links
# (ILMO_STREAM_LINK_SECRET, .local/stream-link-secret). Streaming signs closed
# streams' playback URLs for the local HLS origin (`make hls-origin`) with the
# secret that origin checks (ILMO_PLAYBACK_SECRET, .local/hls/secret, shared
# with deploy/local/hls-origin.sh) at ILMO_PLAYBACK_ORIGIN_URL (default
# http://127.0.0.1:8090/hls).
#
# Sign-in (docs/operations.md, "The development identity provider"): every
# service trusts the issuer infra.sh starts (ILMO_OIDC_ISSUER), the console's
# client (ILMO_OIDC_CLIENT_ID, default ilmo-console) is created or updated at
# every start through Hydra's admin API (secret: ILMO_OIDC_CLIENT_SECRET, or
# .local/oidc-client-secret), and its client-credentials tokens count as an
# Ilmo service's (ILMO_OIDC_SERVICE_CLIENTS).
#
# Each service connects to RabbitMQ as its own user (ilmo-<service>, or
# ILMO_<SERVICE>_BROKER_USER), created at every start through the management
# API from the one permission table in ilmo_shared.messaging.users, with a
# password generated once into .local/broker-users/<user>. ILMO_AMQP_URL names
# the broker and an administrator (guest:guest locally) who creates them; the
# services get the same nodes with their own credentials (docs/security.md).

set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

SERVICES=(registration capacity notification streaming)
declare -A PORTS=(
	[registration]=${ILMO_RUN_REGISTRATION_PORT:-8081}
	[capacity]=${ILMO_RUN_CAPACITY_PORT:-8082}
	[notification]=${ILMO_RUN_NOTIFICATION_PORT:-8083}
	[streaming]=${ILMO_RUN_STREAMING_PORT:-8084}
)
declare -A OPERATIONS_PORTS=(
	[registration]=${ILMO_RUN_REGISTRATION_OPERATIONS_PORT:-9081}
	[capacity]=${ILMO_RUN_CAPACITY_OPERATIONS_PORT:-9082}
	[notification]=${ILMO_RUN_NOTIFICATION_OPERATIONS_PORT:-9083}
	[streaming]=${ILMO_RUN_STREAMING_OPERATIONS_PORT:-9084}
)
DATABASE_PREFIX=${ILMO_RUN_DATABASE_PREFIX:-ilmo_}
VENV=${UV_PROJECT_ENVIRONMENT:-$REPO_ROOT/.venv}
DEVELOPMENT_TOKEN_FILE=$LOCAL_DIR/development-token
BROKER_PASSWORDS_DIR=$LOCAL_DIR/broker-users
MANAGE_LINK_SECRET_FILE=$LOCAL_DIR/manage-link-secret
STREAM_LINK_SECRET_FILE=$LOCAL_DIR/stream-link-secret
PLAYBACK_SECRET_FILE=$LOCAL_DIR/hls/secret
SAMPLE_EVENT=$SCRIPT_DIR/sample-event.json
SAMPLE_EVENT_ID=$(sed -n 's/^  "id": "\(.*\)",$/\1/p' "$SAMPLE_EVENT")

# ---- identity provider (issue 15) ----
# As in deploy/local/hydra.yml and infra.sh.
OIDC_ISSUER=http://127.0.0.1:4444/
HYDRA_ADMIN_URL=http://127.0.0.1:4445
# Tests name a client of their own, so that they never replace a developer's.
CONSOLE_CLIENT_ID=${ILMO_OIDC_CLIENT_ID:-ilmo-console}
CONSOLE_CLIENT_SECRET_FILE=$LOCAL_DIR/oidc-client-secret
DEV_PASSWORD_FILE=$LOCAL_DIR/dev-password
# ---- end identity provider ----

# Where the local Prometheus (infra.sh) finds the services: one file of targets.
PROMETHEUS_URL=http://${ILMO_PROMETHEUS_ADDR:-127.0.0.1:9090}
PROMETHEUS_TARGETS=$LOCAL_DIR/prometheus/targets/run.json

SUPERVISOR_CONF=$RUN_DIR/supervisord.conf
SUPERVISOR_SOCKET=$RUN_DIR/supervisord.sock
SUPERVISOR_PIDFILE=$RUN_DIR/supervisord.pid
SUPERVISOR_LOG=$LOG_DIR/supervisord.log
# Checksum of the ILMO_* environment supervisord was started with.
SUPERVISOR_ENVIRONMENT=$RUN_DIR/supervisord.environment
LAUNCHER=$SCRIPT_DIR/supervised_service.py
# A service counts as started once it has stayed up this long: a crash before
# that, even one after the service was ready, is a crash loop to back off from.
START_SECONDS=10
# Quick deaths in a row (each retried 1 s later than the one before) before FATAL.
START_RETRIES=5
# From SIGTERM to SIGKILL: the services bound their graceful shutdown to ~25 s.
STOP_WAIT_SECONDS=30
# How often a start that takes long is reported while waiting for readiness.
WAIT_NOTE_SECONDS=30
declare -A STATES=()
# ILMO_AMQP_URL of each service: the broker's nodes with the service's own user.
declare -A AMQP_URLS=()
# Set by wait_services when a service stopped for good.
FAILED=0

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

# The port of a service's operations listener.
operations_port_of() {
	printf '%s' "${OPERATIONS_PORTS[$1]}"
}

check_port() {
	local variable=$1 port=$2
	if [[ ! $port =~ ^[1-9][0-9]{0,4}$ ]] || ((port > 65535)); then
		die "$variable: '$port' is not a port number"
	fi
}

check_settings() {
	local name
	for name in "${SERVICES[@]}"; do
		check_port "ILMO_RUN_${name^^}_PORT" "$(port_of "$name")"
		check_port "ILMO_RUN_${name^^}_OPERATIONS_PORT" "$(operations_port_of "$name")"
	done
	[[ $DATABASE_PREFIX =~ ^[A-Za-z0-9_-]*$ ]] ||
		die "ILMO_RUN_DATABASE_PREFIX: '$DATABASE_PREFIX' may hold only letters, digits, _ and -"
	# The socket's path must fit a sockaddr_un (108 bytes, with its NUL).
	((${#SUPERVISOR_SOCKET} < 100)) ||
		die "the supervisord socket path $SUPERVISOR_SOCKET is too long for a unix socket; set ILMO_LOCAL_DIR to a shorter folder"
	[[ -x $VENV/bin/supervisord && -x $VENV/bin/supervisorctl ]] ||
		die "supervisord is missing from $(rel "$VENV"); run make setup"
	for name in "${SERVICES[@]}"; do
		[[ -x $VENV/bin/ilmo-$name ]] || die "$name: $VENV/bin/ilmo-$name is missing; run make setup"
	done
}

load_secrets() {
	DEVELOPMENT_TOKEN=$(local_secret ILMO_DEVELOPMENT_TOKEN "$DEVELOPMENT_TOKEN_FILE")
	MANAGE_LINK_SECRET=$(local_secret ILMO_MANAGE_LINK_SECRET "$MANAGE_LINK_SECRET_FILE")
	STREAM_LINK_SECRET=$(local_secret ILMO_STREAM_LINK_SECRET "$STREAM_LINK_SECRET_FILE")
	mkdir -p "$(dirname "$PLAYBACK_SECRET_FILE")"
	PLAYBACK_SECRET=$(local_secret ILMO_PLAYBACK_SECRET "$PLAYBACK_SECRET_FILE")
}

# ---- identity provider (issue 15) ----
load_identity() {
	CONSOLE_CLIENT_SECRET=$(local_secret ILMO_OIDC_CLIENT_SECRET "$CONSOLE_CLIENT_SECRET_FILE")
}

# The console's client at the development provider, as the console expects it:
# PUT replaces it with this definition (new secret, URIs) if it exists,
# else POST creates it.
register_console_client() {
	local body status url=$HYDRA_ADMIN_URL/admin/clients
	body=$(CLIENT_ID=$CONSOLE_CLIENT_ID CLIENT_SECRET=$CONSOLE_CLIENT_SECRET \
		BASE=http://127.0.0.1:$(port_of registration) "$VENV/bin/python" -c '
import json, os
base = os.environ["BASE"]
print(json.dumps({
    "client_id": os.environ["CLIENT_ID"],
    "client_secret": os.environ["CLIENT_SECRET"],
    "client_name": "Ilmo console",
    "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
    "response_types": ["code"],
    "scope": "openid offline_access offline profile",
    "audience": ["ilmo"],
    "redirect_uris": [f"{base}/console/signed-in"],
    "post_logout_redirect_uris": [f"{base}/console/signed-out"],
    "token_endpoint_auth_method": "client_secret_basic",
}))')
	status=$(curl -sS -o "$LOG_DIR/oidc-client.response" -w '%{http_code}' -X PUT \
		-H 'Content-Type: application/json' --data-binary "$body" "$url/$CONSOLE_CLIENT_ID" 2>/dev/null || true)
	if [[ $status == 404 ]]; then
		status=$(curl -sS -o "$LOG_DIR/oidc-client.response" -w '%{http_code}' -X POST \
			-H 'Content-Type: application/json' --data-binary "$body" "$url" 2>/dev/null || true)
	fi
	case $status in
	200 | 201) report oidc-client ready "$CONSOLE_CLIENT_ID at $OIDC_ISSUER (secret: $(secret_source ILMO_OIDC_CLIENT_SECRET "$CONSOLE_CLIENT_SECRET_FILE"))" ;;
	*) die "could not create the console's client $CONSOLE_CLIENT_ID at $HYDRA_ADMIN_URL (HTTP ${status:-none}; is the identity provider up? make infra); see $(rel "$LOG_DIR/oidc-client.response")" ;;
	esac
}

# Where a secret comes from, for messages: the variable, or the file.
secret_source() {
	if [[ -n ${!1:-} ]]; then
		printf '%s' "$1"
	else
		rel "$2"
	fi
}
# ---- end identity provider ----

# Create (or update) each service's broker user and its permissions, and
# fill AMQP_URLS with the URL each service connects with.
provision_broker_users() {
	local output name url
	output=$("$VENV/bin/python" -m ilmo_shared.messaging.users provision \
		--amqp-url "${ILMO_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}" \
		--passwords "$BROKER_PASSWORDS_DIR") ||
		die "could not create the services' broker users (is the broker up, with its management API? make infra)"
	while read -r name url; do
		AMQP_URLS[$name]=$url
	done <<<"$output"
	for name in "${SERVICES[@]}"; do
		[[ -n ${AMQP_URLS[$name]:-} ]] || die "no broker user was created for $name"
	done
	report broker-users ready "$(rel "$BROKER_PASSWORDS_DIR")"
}

# ---------------------------------------------------------------- supervisord

supervisorctl() {
	"$VENV/bin/supervisorctl" -c "$SUPERVISOR_CONF" "$@"
}

# Pid of the supervisord of this state folder, if it runs, else nothing.
supervisord_pid() {
	our_pid "$SUPERVISOR_PIDFILE" "$SUPERVISOR_CONF"
}

# A value in supervisord's configuration, where % starts an expansion.
conf_value() {
	printf '%s' "${1//%/%%}"
}

# KEY="value" for a program's environment= line. supervisord splits that line
# with a non-POSIX shlex (no escapes) and strips quote characters from both
# ends of each value, so some values cannot be carried: refuse them.
env_entry() {
	local key=$1 value=$2
	if [[ $value == *[\"$'\n']* || $value == \'* || $value == *\' ]]; then
		die "$key: a value with a double quote, a line break, or a single quote at either end cannot be passed through supervisord"
	fi
	printf '%s="%s"' "$key" "$(conf_value "$value")"
}

program_environment() {
	local name=$1 port entries=()
	port=$(port_of "$name")
	entries+=("$(env_entry ILMO_HTTP_PORT "$port")")
	entries+=("$(env_entry ILMO_OPERATIONS_PORT "$(operations_port_of "$name")")")
	entries+=("$(env_entry ILMO_AMQP_URL "${AMQP_URLS[$name]}")")
	entries+=("$(env_entry ILMO_PUBLIC_BASE_URL "http://127.0.0.1:$port")")
	entries+=("$(env_entry ILMO_REGISTRATION_PUBLIC_URL "http://127.0.0.1:$(port_of registration)")")
	entries+=("$(env_entry ILMO_MONGODB_DATABASE "$DATABASE_PREFIX$name")")
	entries+=("$(env_entry ILMO_DEVELOPMENT_TOKEN "$DEVELOPMENT_TOKEN")")
	entries+=("$(env_entry ILMO_MANAGE_LINK_SECRET "$MANAGE_LINK_SECRET")")
	entries+=("$(env_entry ILMO_STREAM_LINK_SECRET "$STREAM_LINK_SECRET")")
	# ---- identity provider (issue 15) ----
	entries+=("$(env_entry ILMO_OIDC_ISSUER "$OIDC_ISSUER")")
	entries+=("$(env_entry ILMO_OIDC_SERVICE_CLIENTS "$CONSOLE_CLIENT_ID")")
	if [[ $name == registration ]]; then
		entries+=("$(env_entry ILMO_OIDC_CLIENT_ID "$CONSOLE_CLIENT_ID")")
		entries+=("$(env_entry ILMO_OIDC_CLIENT_SECRET "$CONSOLE_CLIENT_SECRET")")
	fi
	# ---- end identity provider ----
	if [[ $name == registration ]]; then
		# The rate limits' shared counters (deploy/local/infra.sh starts Redis),
		# under the databases' prefix so that a test's run counts apart.
		entries+=("$(env_entry ILMO_REDIS_URL "${ILMO_REDIS_URL:-redis://127.0.0.1:6379/0}")")
		entries+=("$(env_entry ILMO_REDIS_KEY_PREFIX "${ILMO_REDIS_KEY_PREFIX:-$DATABASE_PREFIX}")")
	fi
	if [[ $name == streaming ]]; then
		entries+=("$(env_entry ILMO_PLAYBACK_ORIGIN_URL "${ILMO_PLAYBACK_ORIGIN_URL:-http://${ILMO_HLS_ORIGIN_ADDR:-127.0.0.1:8090}/hls}")")
		entries+=("$(env_entry ILMO_PLAYBACK_SECRET "$PLAYBACK_SECRET")")
		entries+=("$(env_entry ILMO_PLAYBACK_KEY_ID "${ILMO_PLAYBACK_KEY_ID:-1}")")
	fi
	if [[ $name == notification ]]; then
		# The local sink speaks plain SMTP; the service's default is STARTTLS.
		entries+=("$(env_entry ILMO_SMTP_TLS "${ILMO_SMTP_TLS:-none}")")
	fi
	local IFS=,
	printf '%s' "${entries[*]}"
}

program_section() {
	local name=$1 environment
	environment=$(program_environment "$name")
	cat <<EOT

[program:$name]
command="$(conf_value "$VENV/bin/python")" "$(conf_value "$LAUNCHER")" --startsecs $START_SECONDS ilmo-$name
directory=$(conf_value "$REPO_ROOT")
environment=$environment
autostart=true
autorestart=unexpected
exitcodes=0,2
startsecs=$START_SECONDS
startretries=$START_RETRIES
stopsignal=TERM
stopwaitsecs=$STOP_WAIT_SECONDS
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile=$(conf_value "$LOG_DIR/$name.log")
stdout_logfile_maxbytes=50MB
stdout_logfile_backups=2
EOT
}

# Written afresh at every start, readable by this user only (it holds secrets).
write_config() {
	local name tmp=$SUPERVISOR_CONF.tmp
	(
		umask 077
		rm -f "$tmp"
		{
			cat <<EOT
; Written by deploy/local/run.sh at every start: edit that script, not this file.
; Holds secrets, so it is readable by its owner only.

[unix_http_server]
file=$(conf_value "$SUPERVISOR_SOCKET")
chmod=0700

[supervisord]
logfile=$(conf_value "$SUPERVISOR_LOG")
logfile_maxbytes=10MB
logfile_backups=2
loglevel=info
pidfile=$(conf_value "$SUPERVISOR_PIDFILE")
directory=$(conf_value "$REPO_ROOT")
childlogdir=$(conf_value "$LOG_DIR")
identifier=ilmo
; The user it already runs as (only to keep supervisord from warning about root).
user=$(id -u)

[rpcinterface:supervisor]
supervisor.rpcinterface_factory=supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://$(conf_value "$SUPERVISOR_SOCKET")
EOT
			for name in "${SERVICES[@]}"; do
				program_section "$name"
			done
		} >"$tmp"
	)
	mv -f "$tmp" "$SUPERVISOR_CONF"
}

# STATES[service]=RUNNING, STARTING, BACKOFF, FATAL, EXITED, STOPPED, ...
read_states() {
	local name state
	STATES=()
	while read -r name state _; do
		if [[ -n ${PORTS[$name]:-} ]]; then
			STATES[$name]=$state
		fi
	done < <(supervisorctl status 2>/dev/null || true)
}

# Checksum of the ILMO_* variables that reach the services through
# supervisord's own environment rather than its configuration.
environment_checksum() {
	local name
	for name in $(compgen -e); do
		if [[ $name == ILMO_* && $name != ILMO_RUN_* ]]; then
			printf '%s=%s\0' "$name" "${!name}"
		fi
	done | cksum
}

# A line in each service's log (or those named) where this start begins.
mark_logs() {
	local name names=("$@")
	if (($# == 0)); then
		names=("${SERVICES[@]}")
	fi
	for name in "${names[@]}"; do
		printf '\n==== %s: starting %s under supervisord\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$name" >>"$LOG_DIR/$name.log"
	done
}

# Start supervisord, or reuse the one of this state folder and bring it up to
# date with the configuration just written.
supervisord_up() {
	local pid i name stopped=()
	write_config
	pid=$(supervisord_pid)
	if [[ -n $pid ]]; then
		# Restarts the programs whose configuration changed, and only those.
		supervisorctl update >/dev/null ||
			die "supervisord (pid $pid) does not answer on $(rel "$SUPERVISOR_SOCKET"); run $0 stop"
		# Start again what has stopped or was given up on (in parallel; this
		# returns once they have stayed up START_SECONDS, or failed again).
		read_states
		for name in "${SERVICES[@]}"; do
			case ${STATES[$name]:-} in
			FATAL | EXITED | STOPPED) stopped+=("$name") ;;
			esac
		done
		if ((${#stopped[@]} > 0)); then
			mark_logs "${stopped[@]}"
			supervisorctl start all >/dev/null || true
		fi
		report supervisord reused "pid $pid, $(rel "$SUPERVISOR_CONF"), log $(rel "$SUPERVISOR_LOG")"
		if [[ $(environment_checksum) != "$(cat "$SUPERVISOR_ENVIRONMENT" 2>/dev/null)" ]]; then
			note "supervisord was started with other ILMO_* variables, and its services keep those; run $0 stop and start again to apply these"
		fi
		return 0
	fi
	rm -f "$SUPERVISOR_PIDFILE"
	environment_checksum >"$SUPERVISOR_ENVIRONMENT"
	mark_logs
	# Binds the socket, then daemonizes (fd 9, the caller's lock, stays here).
	"$VENV/bin/supervisord" -c "$SUPERVISOR_CONF" </dev/null 9>&- ||
		die "supervisord did not start; see $(rel "$SUPERVISOR_LOG")"
	for ((i = 0; i < 40; i++)); do
		pid=$(supervisord_pid)
		[[ -n $pid ]] && break
		sleep 0.25
	done
	[[ -n $pid ]] || die "supervisord wrote no pid to $(rel "$SUPERVISOR_PIDFILE"); see $(rel "$SUPERVISOR_LOG")"
	report supervisord started "pid $pid, $(rel "$SUPERVISOR_CONF"), log $(rel "$SUPERVISOR_LOG")"
}

# Ready: both listeners answer /health/ready.
ready() {
	local port
	for port in "$(port_of "$1")" "$(operations_port_of "$1")"; do
		curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/health/ready" 2>/dev/null || return 1
	done
}

# The service has stopped for good: say why and show the end of its log.
report_failed() {
	local name=$1 why=$2 log=$LOG_DIR/$1.log
	report "$name" failed "$why; the end of $(rel "$log"):"
	tail -n 5 "$log" 2>/dev/null | sed 's/^/    /' || true
}

# Wait until every service answers /health/ready. Readiness may take long (a
# service waits for the broker and the database); that is reported, not
# fatal. A service that supervisord has given up on (FATAL) or that exited
# with an expected code, i.e. 2 for a bad setting, is reported and sets
# FAILED; the others are still awaited.
wait_services() {
	local name state pending=("${SERVICES[@]}") waiting noted=$SECONDS
	while ((${#pending[@]} > 0)); do
		[[ -n $(supervisord_pid) ]] || die "supervisord has exited; see $(rel "$SUPERVISOR_LOG")"
		read_states
		waiting=()
		for name in "${pending[@]}"; do
			state=${STATES[$name]:-UNKNOWN}
			case $state in
			FATAL)
				report_failed "$name" "died $((START_RETRIES + 1)) times within ${START_SECONDS} s of starting; supervisord gave up (FATAL)"
				FAILED=1
				;;
			EXITED | STOPPED)
				report_failed "$name" "exited and is not restarted ($state: exit code 2 is a bad setting)"
				FAILED=1
				;;
			STARTING | RUNNING)
				if ready "$name"; then
					report "$name" ready "http://127.0.0.1:$(port_of "$name"), operations http://127.0.0.1:$(operations_port_of "$name") (pid $(supervisorctl pid "$name"))"
				else
					waiting+=("$name")
				fi
				;;
			*) waiting+=("$name") ;;
			esac
		done
		pending=("${waiting[@]}")
		if ((${#pending[@]} > 0 && SECONDS - noted >= WAIT_NOTE_SECONDS)); then
			noted=$SECONDS
			for name in "${pending[@]}"; do
				note "$name is not ready yet (${STATES[$name]:-UNKNOWN}); see $(rel "$LOG_DIR/$name.log")"
			done
		fi
		if ((${#pending[@]} > 0)); then
			sleep 0.5
		fi
	done
}

# Stop supervisord, which stops the services first (SIGTERM, then SIGKILL
# after STOP_WAIT_SECONDS), and make sure none of them is left.
stop_supervised() {
	local pid name service_pid i names=() pids=()
	pid=$(supervisord_pid)
	if [[ -z $pid ]]; then
		report supervisord skipped "not running (no live pid in $(rel "$SUPERVISOR_PIDFILE"))"
		return 0
	fi
	for name in "${SERVICES[@]}"; do
		service_pid=$(supervisorctl pid "$name" 2>/dev/null || true)
		if [[ $service_pid =~ ^[1-9][0-9]*$ ]]; then
			names+=("$name")
			pids+=("$service_pid")
		fi
	done
	# `stop all` signals every service at once and returns when all have
	# stopped; supervisord's own shutdown would stop them one after another.
	supervisorctl stop all >/dev/null 2>&1 || true
	supervisorctl shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
	if ! wait_pid_gone "$pid" $((STOP_WAIT_SECONDS + 15)); then
		kill -KILL "$pid" 2>/dev/null || true
		report supervisord killed "pid $pid had not exited $((STOP_WAIT_SECONDS + 15)) s after shutdown"
	fi
	for i in "${!names[@]}"; do
		if pid_is "${pids[$i]}" "ilmo-${names[$i]}"; then
			kill -KILL "${pids[$i]}" 2>/dev/null || true
			report "${names[$i]}" killed "pid ${pids[$i]} outlived supervisord"
		else
			report "${names[$i]}" stopped "pid ${pids[$i]}"
		fi
	done
	report supervisord stopped "pid $pid"
}

# Services started by run.sh before it used supervisord (one pid file each).
stop_unsupervised() {
	local name
	for name in "${SERVICES[@]}"; do
		if [[ -e $RUN_DIR/$name.pid ]]; then
			stop_pid "$name" "$RUN_DIR/$name.pid" "ilmo-$name"
		fi
	done
}

# ---------------------------------------------------------------- Prometheus

# The four operations listeners as Prometheus file_sd targets, label service.
write_prometheus_targets() {
	local name tmp=$PROMETHEUS_TARGETS.tmp separator=''
	mkdir -p "$(dirname -- "$PROMETHEUS_TARGETS")"
	{
		printf '['
		for name in "${SERVICES[@]}"; do
			printf '%s\n  {"targets": ["127.0.0.1:%s"], "labels": {"service": "%s"}}' \
				"$separator" "$(operations_port_of "$name")" "$name"
			separator=,
		done
		printf '\n]\n'
	} >"$tmp"
	mv -f "$tmp" "$PROMETHEUS_TARGETS"
}

# ---------------------------------------------------------------- make run

create_sample_event() {
	local base status
	base=http://127.0.0.1:$(port_of registration)
	status=$(curl -sS -o /dev/null -w '%{http_code}' "$base/api/v1/events/$SAMPLE_EVENT_ID")
	if [[ $status == 200 ]]; then
		report sample exists "$base/api/v1/events/$SAMPLE_EVENT_ID"
		return 0
	fi
	# The seminar of the announcement, on a Friday to come (sample_event.py).
	"$VENV/bin/python" "$SCRIPT_DIR/sample_event.py" >"$RUN_DIR/sample-event.json"
	status=$(curl -sS -o "$LOG_DIR/sample-event.response" -w '%{http_code}' \
		-H "Authorization: Bearer $DEVELOPMENT_TOKEN" -H 'Content-Type: application/json' \
		--data-binary "@$RUN_DIR/sample-event.json" "$base/api/v1/events")
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
  register here            http://127.0.0.1:$(port_of registration)/events/$SAMPLE_EVENT_ID
  upcoming events          http://127.0.0.1:$(port_of registration)/
  API docs (registration)  http://127.0.0.1:$(operations_port_of registration)/docs
  sample seminar (JSON)    http://127.0.0.1:$(port_of registration)/api/v1/events/$SAMPLE_EVENT_ID
  development token        $(rel "$DEVELOPMENT_TOKEN_FILE") (or ILMO_DEVELOPMENT_TOKEN): every role, as a bearer token
EOT
	# ---- identity provider (issue 15) ----
	cat <<EOT
  organiser console        http://127.0.0.1:$(port_of registration)/console
    sign in as             organiser, viewer, door or operator (one role each)
    password               $(secret_source ILMO_DEV_PASSWORD "$DEV_PASSWORD_FILE")
    identity provider      $OIDC_ISSUER (Ory Hydra; admin API $HYDRA_ADMIN_URL)
EOT
	# ---- end identity provider ----
	printf '  %-24s %s\n' "operations listeners" "(health open; /metrics, /docs, counts: bearer token; never public)"
	for name in "${SERVICES[@]}"; do
		printf '  %-24s http://127.0.0.1:%s/health/ready  /metrics\n' "$name" "$(operations_port_of "$name")"
	done
	cat <<EOT
  RabbitMQ management      http://127.0.0.1:15672 (guest/guest)
  Prometheus               $PROMETHEUS_URL (alerts: $PROMETHEUS_URL/alerts; targets from $(rel "$PROMETHEUS_TARGETS"))
  mail sent                ${ILMO_MAIL_SINK_DIR:-$LOCAL_DIR/mail}/*.eml
  logs                     $(rel "$LOG_DIR")/<service>.log
  restarts                 $(rel "$SUPERVISOR_LOG")
  process states           make status, or $(rel "$VENV")/bin/supervisorctl -c $(rel "$SUPERVISOR_CONF") status

A service that dies is restarted; supervisord's lines about it follow below.
Ctrl-C stops everything (or run \`make stop\` elsewhere).

EOT
}

shutdown() {
	local rc=${1:-0}
	trap - INT TERM
	if [[ -n ${FOLLOW_PID:-} ]]; then
		kill "$FOLLOW_PID" 2>/dev/null || true
	fi
	printf '\nstopping ...\n'
	rm -f "$PROMETHEUS_TARGETS"
	stop_supervised
	"$SCRIPT_DIR/infra.sh" down
	exit "$rc"
}

# Stay in the foreground, showing supervisord's log, until supervisord exits
# (`make stop` elsewhere) or Ctrl-C.
follow() {
	local pid
	pid=$(supervisord_pid)
	[[ -n $pid ]] || return 0
	tail -n 0 -F --pid="$pid" "$SUPERVISOR_LOG" 2>/dev/null &
	FOLLOW_PID=$!
	wait "$FOLLOW_PID" || true
	FOLLOW_PID=
}

# Serialized like infra.sh: two starts at once would both start a supervisord.
up() {
	check_settings
	load_secrets
	load_identity
	take_lock
	provision_broker_users
	register_console_client
	supervisord_up
	exec 9>&-
	wait_services
	write_prometheus_targets
}

main() {
	case ${1:-} in
	start)
		ensure_dirs
		trap shutdown INT TERM
		up
		if ((FAILED)); then
			printf '\na service did not start; stopping everything.\n' >&2
			shutdown 1
		fi
		create_sample_event
		print_urls
		follow
		printf 'supervisord was stopped elsewhere; done.\n'
		;;
	up)
		ensure_dirs
		up
		((FAILED == 0)) || die "a service did not start (see above); $0 stop stops the others"
		;;
	status)
		local pid
		pid=$(supervisord_pid)
		if [[ -z $pid ]]; then
			report supervisord down "not running (no live pid in $(rel "$SUPERVISOR_PIDFILE"))"
			return 3
		fi
		report supervisord up "pid $pid, $(rel "$SUPERVISOR_CONF"), log $(rel "$SUPERVISOR_LOG")"
		supervisorctl status
		;;
	stop)
		ensure_dirs
		rm -f "$PROMETHEUS_TARGETS"
		stop_supervised
		stop_unsupervised
		;;
	*)
		printf 'usage: %s start|up|status|stop\n' "$0" >&2
		exit 2
		;;
	esac
}

main "$@"
