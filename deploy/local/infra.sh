#!/usr/bin/env bash
# Local development infrastructure for Ilmo: RabbitMQ, a MongoDB-protocol
# server (FerretDB with SQLite), Redis (the rate limits' shared counters), an
# SMTP sink and the development identity provider (Ory Hydra with its login
# app, deploy/local/dev_login.py: issuer http://127.0.0.1:4444/, admin API
# 127.0.0.1:4445, sign-in pages 127.0.0.1:4446; fixed in deploy/local/hydra.yml),
# and Prometheus (Debian's package; 127.0.0.1:9090, configuration written from
# deploy/prometheus/prometheus.local.yml into .local/prometheus, the alert
# rules of deploy/prometheus/rules; docs/operations.md, "Metrics and alerts").
#
#   deploy/local/infra.sh up       start what does not answer yet, reuse the rest
#   deploy/local/infra.sh down     stop what this script started (pid files only)
#   deploy/local/infra.sh status   show each component; exit 1 if one is not up
#
# Addresses come from the same variables the services read:
#   ILMO_AMQP_URL     default amqp://guest:guest@127.0.0.1:5672/
#   ILMO_MONGODB_URL  default mongodb://127.0.0.1:27017/
#   ILMO_SMTP_HOST    default 127.0.0.1
#   ILMO_SMTP_PORT    default 1025
#   ILMO_REDIS_URL    default redis://127.0.0.1:6379/0
# and, for the local tools only:
#   ILMO_MAIL_SINK_DIR            where the SMTP sink stores .eml files (default .local/mail)
#   ILMO_RABBITMQ_MANAGEMENT_PORT RabbitMQ management API port (default 15672)
#   ILMO_RABBITMQ_TLS_PORT        RabbitMQ's amqps:// listener (default 5671), with a
#                                 certificate of a local CA made once into .local/tls
#                                 (ca.pem is what ILMO_AMQP_CA_FILE names)
#   ILMO_FERRETDB_DEBUG_ADDR      FerretDB's metrics/debug HTTP address (default 127.0.0.1:8089)
#   ILMO_FERRETDB_GOTOOLCHAIN     GOTOOLCHAIN value for building FerretDB (default: the local go)
#   ILMO_LOCAL_DIR                the local state folder (default .local)
#   ILMO_DEV_PASSWORD             the development users' one password (default: generated
#                                 once into .local/dev-password)
#   ILMO_HYDRA_GOTOOLCHAIN        GOTOOLCHAIN value for building Hydra (default: the local go)
#   ILMO_PROMETHEUS_ADDR          the local Prometheus's address (default 127.0.0.1:9090)
#
# A component whose address already answers in the expected protocol is
# reused as it is, whoever runs it (if something else answers there, that is
# an error). Something is started only on a loopback address. State lives in the
# repository's git-ignored .local/ (pid files in .local/run, logs in
# .local/log); the FerretDB binary is built once into .tools/bin.
# `down` stops only processes recorded in .local/run/*.pid, after checking that
# the recorded pid still belongs to the expected program.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

AMQP_URL=${ILMO_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}
MONGODB_URL=${ILMO_MONGODB_URL:-mongodb://127.0.0.1:27017/}
SMTP_HOST=${ILMO_SMTP_HOST:-127.0.0.1}
SMTP_PORT=${ILMO_SMTP_PORT:-1025}
MAIL_DIR=${ILMO_MAIL_SINK_DIR:-$LOCAL_DIR/mail}
REDIS_URL=${ILMO_REDIS_URL:-redis://127.0.0.1:6379/0}

RABBITMQ_PIDFILE=$RUN_DIR/rabbitmq.pid
RABBITMQ_MGMT_PORT=${ILMO_RABBITMQ_MANAGEMENT_PORT:-15672}
RABBITMQ_PROMETHEUS_PORT=15692
RABBITMQ_TLS_PORT=${ILMO_RABBITMQ_TLS_PORT:-5671}
# The local CA and the server certificate for 127.0.0.1/localhost (tls_material).
TLS_DIR=$LOCAL_DIR/tls
TLS_DAYS=825
RABBITMQ_START_TIMEOUT=120

FERRETDB_VERSION=v1.24.2
# Patches applied to FerretDB's source before building (see ferretdb_build).
FERRETDB_PATCHES=("$SCRIPT_DIR/patches/ferretdb-v1.24.2-sqlite-id-lookups.patch")
# Names the build recipe; a binary built by another recipe is rebuilt.
FERRETDB_BUILD_ID="$FERRETDB_VERSION+$(cat "${FERRETDB_PATCHES[@]}" | cksum | cut -d' ' -f1)"
FERRETDB_MODULE=github.com/FerretDB/FerretDB
FERRETDB_BIN=$TOOLS_BIN/ferretdb
FERRETDB_PIDFILE=$RUN_DIR/ferretdb.pid
FERRETDB_STATE_DIR=$LOCAL_DIR/ferretdb
FERRETDB_DEBUG_ADDR=${ILMO_FERRETDB_DEBUG_ADDR:-127.0.0.1:8089}

REDIS_PIDFILE=$RUN_DIR/redis.pid
REDIS_STATE_DIR=$LOCAL_DIR/redis

MAIL_SINK_SCRIPT=$SCRIPT_DIR/mail_sink.py
MAIL_SINK_PIDFILE=$RUN_DIR/mail-sink.pid

HYDRA_VERSION=v2.3.0
# The tool module that pins Hydra and every dependency (go.mod, go.sum).
HYDRA_MODULE_DIR=$SCRIPT_DIR/hydra
HYDRA_BUILD_ID="$HYDRA_VERSION+sqlite+$(cat "$HYDRA_MODULE_DIR/go.mod" "$HYDRA_MODULE_DIR/go.sum" | cksum | cut -d' ' -f1)"
HYDRA_BIN=$TOOLS_BIN/hydra
HYDRA_CONFIG=$SCRIPT_DIR/hydra.yml
HYDRA_STATE_DIR=$LOCAL_DIR/hydra
HYDRA_PIDFILE=$RUN_DIR/hydra.pid
# As in hydra.yml: the addresses everybody uses (the gate's), and Hydra's own.
OIDC_ISSUER=http://127.0.0.1:4444/
HYDRA_ADMIN_URL=http://127.0.0.1:4445
HYDRA_OWN_PUBLIC_URL=http://127.0.0.1:4454/
HYDRA_OWN_ADMIN_URL=http://127.0.0.1:4455
HYDRA_GATE_SCRIPT=$SCRIPT_DIR/hydra_gate.py
HYDRA_GATE_PIDFILE=$RUN_DIR/hydra-gate.pid
DEV_LOGIN_SCRIPT=$SCRIPT_DIR/dev_login.py
DEV_LOGIN_PIDFILE=$RUN_DIR/dev-login.pid
DEV_LOGIN_URL=http://127.0.0.1:4446
DEV_PASSWORD_FILE=$LOCAL_DIR/dev-password

# Debian's prometheus package, run as our own process (its systemd unit is
# neither used nor enabled); configuration from the template, state in
# .local/prometheus, targets of the services in .local/prometheus/targets.
PROMETHEUS_ADDR=${ILMO_PROMETHEUS_ADDR:-127.0.0.1:9090}
PROMETHEUS_TEMPLATE=$REPO_ROOT/deploy/prometheus/prometheus.local.yml
PROMETHEUS_STATE_DIR=$LOCAL_DIR/prometheus
PROMETHEUS_CONFIG=$PROMETHEUS_STATE_DIR/prometheus.yml
PROMETHEUS_PIDFILE=$RUN_DIR/prometheus.pid

# ---------------------------------------------------------------- TLS material

# A private CA and one server certificate for localhost and 127.0.0.1, made
# once (kept while all three files exist): the local broker's amqps://
# listener uses them, and tests and developers trust $TLS_DIR/ca.pem. The CA's
# key stays beside it, git-ignored like all of .local; nothing here is a
# production secret.
tls_material() {
	local log=$LOG_DIR/tls.log
	if [[ -s $TLS_DIR/ca.pem && -s $TLS_DIR/server.pem && -s $TLS_DIR/server-key.pem ]]; then
		return 0
	fi
	command -v openssl >/dev/null || die "tls: openssl is missing (apt-get install openssl)"
	mkdir -p "$TLS_DIR"
	chmod 755 "$TLS_DIR"
	{
		new_ca "$TLS_DIR/ca-key.pem" "$TLS_DIR/ca.pem" "Ilmo local development CA" "$TLS_DAYS" &&
			new_server_certificate "$TLS_DIR/ca.pem" "$TLS_DIR/ca-key.pem" \
				"$TLS_DIR/server-key.pem" "$TLS_DIR/server.pem" localhost "$TLS_DAYS" \
				serverAuth DNS:localhost,IP:127.0.0.1
	} 2>>"$log" || die "tls: could not make the local CA and certificate; see $(rel "$log")"
	chmod 600 "$TLS_DIR/ca-key.pem" "$TLS_DIR/server-key.pem"
	report tls made "local CA $(rel "$TLS_DIR/ca.pem"), server certificate for localhost and 127.0.0.1"
}

# ---------------------------------------------------------------- RabbitMQ

rabbitmq_sbin() {
	local server
	server=$(command -v rabbitmq-server 2>/dev/null || true)
	[[ -z $server && -x /usr/sbin/rabbitmq-server ]] && server=/usr/sbin/rabbitmq-server
	[[ -n $server ]] && dirname "$server"
	return 0
}

rabbitmq_install() {
	debian_install rabbitmq rabbitmq-server "$(host_port "$RMQ_HOST" "$RMQ_PORT")" \
		"set ILMO_AMQP_URL to a running broker"
}

# The Debian wrapper scripts run the broker and its CLI tools as the rabbitmq
# user (through su when called by root), so that user must be able to write
# the pid file and read it back.
rabbitmq_user_can() {
	local test_op=$1 file=$2
	if [[ $(id -un) == rabbitmq ]]; then
		test "$test_op" "$file"
	else
		# shellcheck disable=SC2016 # expanded by the inner sh
		su rabbitmq -s /bin/sh -c 'test "$0" "$1"' "$test_op" "$file" 2>/dev/null
	fi
}

# Pid file in the rabbitmq user's home, one per checkout, for when that user
# cannot reach .local/run.
rabbitmq_fallback_pidfile() {
	printf '/var/lib/rabbitmq/ilmo-infra-%s.pid' "$(printf '%s' "$REPO_ROOT" | cksum | cut -d' ' -f1)"
}

rabbitmq_mgmt_ok() {
	local url
	url="http://$(host_port "$1" "$RABBITMQ_MGMT_PORT")/api/overview"
	if command -v curl >/dev/null; then
		curl -fsS -o /dev/null --max-time 5 -u guest:guest "$url" 2>/dev/null
	else
		port_open "$1" "$RABBITMQ_MGMT_PORT"
	fi
}

rabbitmq_describe() {
	local host=$1 port=$2 mgmt
	if rabbitmq_mgmt_ok "$host"; then
		mgmt="management http://$(host_port "$host" "$RABBITMQ_MGMT_PORT") ok"
	else
		mgmt="management http://$(host_port "$host" "$RABBITMQ_MGMT_PORT") NOT answering (guest:guest)"
	fi
	printf 'amqp://%s, %s' "$(host_port "$host" "$port")" "$mgmt"
	if port_open "$host" "$RABBITMQ_TLS_PORT"; then
		printf ', amqps://%s (CA %s)' "$(host_port "$host" "$RABBITMQ_TLS_PORT")" "$(rel "$TLS_DIR/ca.pem")"
	fi
}

# Where the broker reads the certificate and key: .local/tls when the
# rabbitmq user can read the key there (it is given the key when this runs
# as root), else a copy in that user's home, one per checkout.
rabbitmq_tls_dir() {
	local dir=$TLS_DIR file
	if [[ $(id -u) -eq 0 ]]; then
		chown rabbitmq: "$TLS_DIR/server-key.pem"
	fi
	if ! rabbitmq_user_can -r "$TLS_DIR/server-key.pem"; then
		dir=/var/lib/rabbitmq/ilmo-tls-$(printf '%s' "$REPO_ROOT" | cksum | cut -d' ' -f1)
		install -d -o rabbitmq -g rabbitmq -m 700 "$dir"
		for file in ca.pem server.pem server-key.pem; do
			install -o rabbitmq -g rabbitmq -m 600 "$TLS_DIR/$file" "$dir/$file"
		done
	fi
	printf '%s' "$dir"
}

rabbitmq_owner() {
	local pid
	pid=$(our_pid "$RABBITMQ_PIDFILE" rabbit)
	if [[ -n $pid ]]; then
		printf 'started by infra.sh, pid %s' "$pid"
	else
		printf 'not started by infra.sh'
	fi
}

rabbitmq_up() {
	local sbin bind log server_pidfile pid erl_args rc tls_dir
	parse_url "$AMQP_URL" 5672
	RMQ_HOST=$URL_HOST RMQ_PORT=$URL_PORT
	rc=0
	answers amqp "$RMQ_HOST" "$RMQ_PORT" || rc=$?
	if [[ $rc -eq 0 ]]; then
		report rabbitmq reused "$(rabbitmq_describe "$RMQ_HOST" "$RMQ_PORT") ($(rabbitmq_owner))"
		return 0
	elif [[ $rc -eq 2 ]]; then
		die "rabbitmq: something answers at $(host_port "$RMQ_HOST" "$RMQ_PORT") (ILMO_AMQP_URL) but it is not an AMQP 0-9-1 broker"
	fi
	is_loopback "$RMQ_HOST" ||
		die "rabbitmq: nothing answers at $(host_port "$RMQ_HOST" "$RMQ_PORT") (ILMO_AMQP_URL), which is not a loopback address, so it is not started here"

	sbin=$(rabbitmq_sbin)
	if [[ -z $sbin ]]; then
		rabbitmq_install
		sbin=$(rabbitmq_sbin)
		[[ -n $sbin ]] || die "rabbitmq: rabbitmq-server still missing after apt-get install"
	fi
	[[ $(id -u) -eq 0 || $(id -un) == rabbitmq ]] ||
		die "rabbitmq: nothing answers at $(host_port "$RMQ_HOST" "$RMQ_PORT"); the Debian broker can only be started by root or rabbitmq (try: sudo $0 up), or set ILMO_AMQP_URL to a running broker"

	log=$LOG_DIR/rabbitmq.log
	printf '\n==== %s: looking for a running node (an error here means none)\n' \
		"$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$log"
	# The package's postinst normally starts the broker (unless policy-rc.d
	# forbids it), and a broker may still be booting: reuse a running node.
	if "$sbin/rabbitmq-diagnostics" -q ping >>"$log" 2>&1; then
		"$sbin/rabbitmqctl" -q await_startup --timeout "$RABBITMQ_START_TIMEOUT" >>"$log" 2>&1 || true
		if answers amqp "$RMQ_HOST" "$RMQ_PORT"; then
			report rabbitmq reused "$(rabbitmq_describe "$RMQ_HOST" "$RMQ_PORT") ($(rabbitmq_owner))"
			return 0
		fi
		die "rabbitmq: a RabbitMQ node is running but does not answer on $(host_port "$RMQ_HOST" "$RMQ_PORT"); stop it or set ILMO_AMQP_URL to its address"
	fi

	# Writes /etc/rabbitmq/enabled_plugins; idempotent, and works without a node.
	if ! grep -qs rabbitmq_management /etc/rabbitmq/enabled_plugins ||
		! grep -qs rabbitmq_prometheus /etc/rabbitmq/enabled_plugins; then
		"$sbin/rabbitmq-plugins" enable --offline rabbitmq_management rabbitmq_prometheus >>"$log" 2>&1 ||
			die "rabbitmq: could not enable plugins rabbitmq_management and rabbitmq_prometheus; see $(rel "$log")"
	fi

	# RabbitMQ writes its pid file itself, as the rabbitmq user, which cannot
	# create files in a root-owned .local/run: give it a file it owns. If it
	# cannot reach the repository at all (e.g. a clone under /root), it writes
	# into its home and the pid is copied to .local/run afterwards.
	rm -f "$RABBITMQ_PIDFILE"
	: >"$RABBITMQ_PIDFILE"
	if [[ $(id -u) -eq 0 ]]; then
		chown rabbitmq: "$RABBITMQ_PIDFILE"
	fi
	server_pidfile=$RABBITMQ_PIDFILE
	if ! rabbitmq_user_can -w "$RABBITMQ_PIDFILE"; then
		server_pidfile=$(rabbitmq_fallback_pidfile)
		rm -f "$server_pidfile"
	fi

	bind=$(bind_address "$RMQ_HOST")
	erl_args="-rabbitmq_management tcp_config [{ip,\"$bind\"},{port,$RABBITMQ_MGMT_PORT}]"
	erl_args+=" -rabbitmq_prometheus tcp_config [{ip,\"$bind\"},{port,$RABBITMQ_PROMETHEUS_PORT}]"
	# amqps:// beside amqp:// (docs/security.md, "TLS to the broker, the database,
	# Redis and SMTP"); clients are not asked for a certificate. The same
	# arguments as tests/support/tls_servers.py's rabbitmq_tls_arguments.
	tls_dir=$(rabbitmq_tls_dir)
	erl_args+=" -rabbit ssl_listeners [{\"$bind\",$RABBITMQ_TLS_PORT}]"
	erl_args+=" -rabbit ssl_options [{cacertfile,\"$tls_dir/ca.pem\"},{certfile,\"$tls_dir/server.pem\"}"
	erl_args+=",{keyfile,\"$tls_dir/server-key.pem\"},{verify,verify_none},{fail_if_no_peer_cert,false}]"
	printf '\n==== %s: starting rabbitmq\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$log"
	RABBITMQ_PID_FILE=$server_pidfile \
		RABBITMQ_NODE_IP_ADDRESS=$bind \
		RABBITMQ_NODE_PORT=$RMQ_PORT \
		RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="${RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:-} $erl_args" \
		"$sbin/rabbitmq-server" -detached >>"$log" 2>&1 9>&- ||
		die "rabbitmq: rabbitmq-server -detached failed; see $(rel "$log")"

	if ! "$sbin/rabbitmqctl" -q wait --timeout "$RABBITMQ_START_TIMEOUT" "$server_pidfile" >>"$log" 2>&1; then
		die "rabbitmq: did not start within ${RABBITMQ_START_TIMEOUT} s; see $(rel "$log") and /var/log/rabbitmq/"
	fi
	pid=$(read_pid "$server_pidfile")
	[[ -n $pid ]] || die "rabbitmq: started but wrote no pid to $server_pidfile"
	if [[ $server_pidfile != "$RABBITMQ_PIDFILE" ]]; then
		printf '%s\n' "$pid" >"$RABBITMQ_PIDFILE"
	fi
	wait_answer amqp "$RMQ_HOST" "$RMQ_PORT" 30 "$pid" ||
		die "rabbitmq: node is up but AMQP does not answer on $(host_port "$RMQ_HOST" "$RMQ_PORT"); see /var/log/rabbitmq/"
	local i
	for ((i = 0; i < 60; i++)); do
		rabbitmq_mgmt_ok "$RMQ_HOST" && break
		sleep 0.5
	done
	rabbitmq_mgmt_ok "$RMQ_HOST" ||
		die "rabbitmq: management API does not answer at http://$(host_port "$RMQ_HOST" "$RABBITMQ_MGMT_PORT")/api/overview with guest:guest"
	port_open "$RMQ_HOST" "$RABBITMQ_TLS_PORT" ||
		die "rabbitmq: node is up but amqps:// does not answer on $(host_port "$RMQ_HOST" "$RABBITMQ_TLS_PORT"); see /var/log/rabbitmq/"
	report rabbitmq started "$(rabbitmq_describe "$RMQ_HOST" "$RMQ_PORT") (pid $pid)"
}

rabbitmq_down() {
	local sbin pid log=$LOG_DIR/rabbitmq.log
	if [[ ! -e $RABBITMQ_PIDFILE ]]; then
		report rabbitmq skipped "not started by infra.sh (no $(rel "$RABBITMQ_PIDFILE"))"
		return 0
	fi
	pid=$(our_pid "$RABBITMQ_PIDFILE" rabbit)
	if [[ -z $pid ]]; then
		pid=$(read_pid "$RABBITMQ_PIDFILE")
		rm -f "$RABBITMQ_PIDFILE"
		report rabbitmq gone "pid ${pid:-?} is not running (or is not RabbitMQ); removed stale $(rel "$RABBITMQ_PIDFILE")"
		return 0
	fi
	sbin=$(rabbitmq_sbin)
	[[ -n $sbin ]] || die "rabbitmq: pid $pid is running but rabbitmqctl is missing"
	printf '\n==== %s: stopping rabbitmq\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$log"
	# With a pid file, `rabbitmqctl stop` also waits for the process to exit.
	if rabbitmq_user_can -r "$RABBITMQ_PIDFILE"; then
		"$sbin/rabbitmqctl" -q stop "$RABBITMQ_PIDFILE" >>"$log" 2>&1 ||
			die "rabbitmq: rabbitmqctl stop failed; see $(rel "$log")"
	else
		"$sbin/rabbitmqctl" -q stop >>"$log" 2>&1 ||
			die "rabbitmq: rabbitmqctl stop failed; see $(rel "$log")"
	fi
	wait_pid_gone "$pid" 60 || die "rabbitmq: pid $pid still running 60 s after rabbitmqctl stop"
	rm -f "$RABBITMQ_PIDFILE" "$(rabbitmq_fallback_pidfile)"
	report rabbitmq stopped "pid $pid"
}

rabbitmq_status() {
	local rc=0
	parse_url "$AMQP_URL" 5672
	answers amqp "$URL_HOST" "$URL_PORT" || rc=$?
	case $rc in
	0) report rabbitmq up "$(rabbitmq_describe "$URL_HOST" "$URL_PORT") ($(rabbitmq_owner))" ;;
	1) report rabbitmq down "amqp://$(host_port "$URL_HOST" "$URL_PORT") does not answer" ;;
	*) report rabbitmq wrong "amqp://$(host_port "$URL_HOST" "$URL_PORT") answers, but not as an AMQP broker" ;;
	esac
	[[ $rc -eq 0 ]]
}

# ---------------------------------------------------------------- FerretDB

# Builds FerretDB into .tools/bin/ferretdb.
#
# Why not `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`: it
# builds, but the binary panics at start with "Invalid build/version/version.txt
# file content". FerretDB embeds build/version/*.txt, and version.txt is
# generated by its release tooling, so it is not in the module zip that the Go
# module proxy serves. We therefore take that same module from the proxy (go
# mod download), copy it to a writable temporary directory, write version.txt
# with the version we fetched, and build ./cmd/ferretdb there. The source is
# otherwise unchanged but for FERRETDB_PATCHES:
#
# - ferretdb-v1.24.2-sqlite-id-lookups.patch: the SQLite backend creates its
#   unique _id index on the expression _ferretdb_sjson->"_id" but looks
#   documents up by _ferretdb_sjson->'$._id', which SQLite cannot match to
#   that index, and it pushes a filter down only when _id is its one field.
#   So every find, update and delete by _id read the whole table (measured on
#   10,000 documents: 124 ms per lookup, against 1 ms patched). The patch
#   makes the lookup use the index's expression and pushes _id down from any
#   filter that has it (FerretDB applies the whole filter to what comes back
#   anyway). MongoDB, in production, has none of this.
ferretdb_build() {
	local log=$LOG_DIR/ferretdb-build.log tmp moddir
	if ! command -v go >/dev/null; then
		die "ferretdb: $(rel "$FERRETDB_BIN") is missing and Go is not installed to build it; install Go (https://go.dev/dl/) or set ILMO_MONGODB_URL to a running MongoDB/FerretDB"
	fi
	note "building FerretDB $FERRETDB_VERSION into $(rel "$FERRETDB_BIN") (log: $(rel "$log")); the first build can take a few minutes ..."
	mkdir -p "$TOOLS_BIN"
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/ilmo-ferretdb-build.XXXXXX")
	if ! (
		set -euo pipefail
		if [[ -n ${ILMO_FERRETDB_GOTOOLCHAIN:-} ]]; then
			export GOTOOLCHAIN=$ILMO_FERRETDB_GOTOOLCHAIN
		fi
		printf '\n==== %s: building %s@%s with %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
			"$FERRETDB_MODULE" "$FERRETDB_VERSION" "$(go version)"
		cd "$tmp"
		moddir=$(go mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION" |
			sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
		[[ -n $moddir && -d $moddir ]] || {
			echo "go mod download did not report a module directory"
			exit 1
		}
		cp -R "$moddir" "$tmp/src"
		chmod -R u+w "$tmp/src"
		printf '%s\n' "$FERRETDB_VERSION" >"$tmp/src/build/version/version.txt"
		cd "$tmp/src"
		for patch in "${FERRETDB_PATCHES[@]}"; do
			git apply --verbose "$patch"
		done
		go build -trimpath -o "$FERRETDB_BIN.new" ./cmd/ferretdb
		"$FERRETDB_BIN.new" --version
	) >>"$log" 2>&1; then
		chmod -R u+w "$tmp" 2>/dev/null || true
		rm -rf "$tmp" "$FERRETDB_BIN.new"
		die "ferretdb: building $FERRETDB_MODULE@$FERRETDB_VERSION failed; see $(rel "$log") (ILMO_FERRETDB_GOTOOLCHAIN selects another Go toolchain)"
	fi
	chmod -R u+w "$tmp" 2>/dev/null || true
	rm -rf "$tmp"
	mv -f "$FERRETDB_BIN.new" "$FERRETDB_BIN"
	printf '%s\n' "$FERRETDB_BUILD_ID" >"$FERRETDB_BIN.build"
}

ferretdb_check_binary() {
	local out
	[[ $(cat "$FERRETDB_BIN.build" 2>/dev/null) == "$FERRETDB_BUILD_ID" ]] || return 1
	out=$("$FERRETDB_BIN" --version 2>&1) || return 1
	[[ $out == *"version: $FERRETDB_VERSION"* ]]
}

ferretdb_owner() {
	local pid
	pid=$(our_pid "$FERRETDB_PIDFILE" "$FERRETDB_BIN")
	if [[ -n $pid ]]; then
		printf 'started by infra.sh, pid %s' "$pid"
	else
		printf 'not started by infra.sh'
	fi
}

ferretdb_up() {
	local host port listen debug_addr pid rc log=$LOG_DIR/ferretdb.log
	if [[ $MONGODB_URL == mongodb+srv://* ]]; then
		report mongodb external "SRV URL in ILMO_MONGODB_URL; not checked, not started"
		return 0
	fi
	parse_url "$MONGODB_URL" 27017
	host=$URL_HOST port=$URL_PORT
	rc=0
	answers mongodb "$host" "$port" || rc=$?
	if [[ $rc -eq 0 ]]; then
		report mongodb reused "mongodb://$(host_port "$host" "$port") ($(ferretdb_owner))"
		return 0
	elif [[ $rc -eq 2 ]]; then
		die "mongodb: something answers at $(host_port "$host" "$port") (ILMO_MONGODB_URL) but it does not speak the MongoDB protocol"
	fi
	is_loopback "$host" ||
		die "mongodb: nothing answers at $(host_port "$host" "$port") (ILMO_MONGODB_URL), which is not a loopback address, so it is not started here"

	if [[ ! -x $FERRETDB_BIN ]] || ! ferretdb_check_binary; then
		ferretdb_build
		ferretdb_check_binary ||
			die "ferretdb: $(rel "$FERRETDB_BIN") is not version $FERRETDB_VERSION built with $(rel "$SCRIPT_DIR/patches"); delete it to rebuild"
	fi

	parse_url "http://$FERRETDB_DEBUG_ADDR" 8089
	if port_open "$URL_HOST" "$URL_PORT"; then
		die "ferretdb: debug address $FERRETDB_DEBUG_ADDR is taken; set ILMO_FERRETDB_DEBUG_ADDR to a free loopback address"
	fi
	debug_addr=$FERRETDB_DEBUG_ADDR

	mkdir -p "$FERRETDB_STATE_DIR/data"
	# secure_delete: SQLite overwrites deleted content with zeros, so erased
	# personal data does not linger in free pages (docs/security.md,
	# "Retention and erasure"). FerretDB passes _pragma on to every connection.
	listen=$(host_port "$(bind_address "$host")" "$port")
	start_background ferretdb "$FERRETDB_PIDFILE" "$log" \
		"$FERRETDB_BIN" \
		--handler=sqlite \
		--sqlite-url="file:$FERRETDB_STATE_DIR/data/?_pragma=secure_delete(1)" \
		--state-dir="$FERRETDB_STATE_DIR" \
		--listen-addr="$listen" \
		--debug-addr="$debug_addr" \
		--telemetry=disable
	pid=$(read_pid "$FERRETDB_PIDFILE")
	if ! wait_answer mongodb "$host" "$port" 30 "$pid"; then
		die "ferretdb: did not answer on $listen within 30 s; see $(rel "$log")"
	fi
	report mongodb started "mongodb://$listen (FerretDB $FERRETDB_VERSION, SQLite in $(rel "$FERRETDB_STATE_DIR/data"), pid $pid)"
}

ferretdb_down() {
	stop_pid mongodb "$FERRETDB_PIDFILE" "$FERRETDB_BIN"
}

ferretdb_status() {
	if [[ $MONGODB_URL == mongodb+srv://* ]]; then
		report mongodb external "SRV URL in ILMO_MONGODB_URL; not checked"
		return 0
	fi
	local rc=0
	parse_url "$MONGODB_URL" 27017
	answers mongodb "$URL_HOST" "$URL_PORT" || rc=$?
	case $rc in
	0) report mongodb up "mongodb://$(host_port "$URL_HOST" "$URL_PORT") ($(ferretdb_owner))" ;;
	1) report mongodb down "mongodb://$(host_port "$URL_HOST" "$URL_PORT") does not answer" ;;
	*) report mongodb wrong "mongodb://$(host_port "$URL_HOST" "$URL_PORT") answers, but not as MongoDB" ;;
	esac
	[[ $rc -eq 0 ]]
}

# ---------------------------------------------------------------- Redis

# Holds the registration rate limits' counters, which expire within minutes:
# no persistence (--save '' --appendonly no), and a restart merely resets them.

redis_install() {
	debian_install redis redis-server "$(host_port "$REDIS_HOST" "$REDIS_PORT")" \
		"set ILMO_REDIS_URL to a running Redis"
}

redis_owner() {
	local pid
	pid=$(our_pid "$REDIS_PIDFILE" redis-server)
	if [[ -n $pid ]]; then
		printf 'started by infra.sh, pid %s' "$pid"
	else
		printf 'not started by infra.sh'
	fi
}

redis_up() {
	local server pid rc=0 log=$LOG_DIR/redis.log
	parse_url "$REDIS_URL" 6379
	REDIS_HOST=$URL_HOST REDIS_PORT=$URL_PORT
	answers redis "$REDIS_HOST" "$REDIS_PORT" || rc=$?
	if [[ $rc -eq 0 ]]; then
		report redis reused "redis://$(host_port "$REDIS_HOST" "$REDIS_PORT") ($(redis_owner))"
		return 0
	elif [[ $rc -eq 2 ]]; then
		die "redis: something answers at $(host_port "$REDIS_HOST" "$REDIS_PORT") (ILMO_REDIS_URL) but it does not answer PING as Redis"
	fi
	is_loopback "$REDIS_HOST" ||
		die "redis: nothing answers at $(host_port "$REDIS_HOST" "$REDIS_PORT") (ILMO_REDIS_URL), which is not a loopback address, so it is not started here"
	server=$(command -v redis-server 2>/dev/null || true)
	if [[ -z $server ]]; then
		redis_install
		server=$(command -v redis-server 2>/dev/null || true)
		[[ -n $server ]] || die "redis: redis-server still missing after apt-get install"
	fi
	mkdir -p "$REDIS_STATE_DIR"
	rm -f "$REDIS_PIDFILE"
	printf '\n==== %s: starting redis\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$log"
	"$server" --bind "$(bind_address "$REDIS_HOST")" --port "$REDIS_PORT" \
		--save '' --appendonly no --dir "$REDIS_STATE_DIR" \
		--daemonize yes --pidfile "$REDIS_PIDFILE" --logfile "$log" 9>&- ||
		die "redis: redis-server failed to start; see $(rel "$log")"
	local i
	for ((i = 0; i < 40; i++)); do
		pid=$(read_pid "$REDIS_PIDFILE")
		[[ -n $pid ]] && break
		sleep 0.25
	done
	[[ -n $pid ]] || die "redis: started but wrote no pid to $(rel "$REDIS_PIDFILE"); see $(rel "$log")"
	wait_answer redis "$REDIS_HOST" "$REDIS_PORT" 20 "$pid" ||
		die "redis: did not answer on $(host_port "$REDIS_HOST" "$REDIS_PORT") within 20 s; see $(rel "$log")"
	report redis started "redis://$(host_port "$REDIS_HOST" "$REDIS_PORT") (no persistence, pid $pid)"
}

redis_down() {
	stop_pid redis "$REDIS_PIDFILE" redis-server
}

redis_status() {
	local rc=0
	parse_url "$REDIS_URL" 6379
	answers redis "$URL_HOST" "$URL_PORT" || rc=$?
	case $rc in
	0) report redis up "redis://$(host_port "$URL_HOST" "$URL_PORT") ($(redis_owner))" ;;
	1) report redis down "redis://$(host_port "$URL_HOST" "$URL_PORT") does not answer" ;;
	*) report redis wrong "redis://$(host_port "$URL_HOST" "$URL_PORT") answers, but not as Redis" ;;
	esac
	[[ $rc -eq 0 ]]
}

# ---------------------------------------------------------------- SMTP sink

# workspace_python COMPONENT MODULE: the interpreter of the project's
# environment, which has MODULE (aiosmtpd for the mail sink, uvicorn for the
# development login app).
workspace_python() {
	local component=$1 module=$2 venv_python=${UV_PROJECT_ENVIRONMENT:-$REPO_ROOT/.venv}/bin/python
	if [[ -x $venv_python ]] && "$venv_python" -c "import $module" 2>/dev/null; then
		printf '%s' "$venv_python"
		return 0
	fi
	command -v uv >/dev/null ||
		die "$component: no Python environment with $module in $(rel "${venv_python%/bin/python}") and uv is not installed; run uv sync"
	# Creates or completes the environment from uv.lock, then names its interpreter.
	(cd "$REPO_ROOT" && uv run --frozen --quiet python -c "import sys, $module; print(sys.executable)") ||
		die "$component: uv run --frozen could not provide a Python with $module"
}

mail_sink_python() {
	workspace_python mail-sink aiosmtpd
}

mail_sink_owner() {
	local pid
	pid=$(our_pid "$MAIL_SINK_PIDFILE" "$MAIL_SINK_SCRIPT")
	if [[ -n $pid ]]; then
		printf 'started by infra.sh, pid %s' "$pid"
	else
		printf 'not started by infra.sh'
	fi
}

mail_sink_up() {
	local python pid rc=0 log=$LOG_DIR/mail-sink.log
	answers smtp "$SMTP_HOST" "$SMTP_PORT" || rc=$?
	if [[ $rc -eq 0 ]]; then
		report mail-sink reused "smtp://$(host_port "$SMTP_HOST" "$SMTP_PORT") ($(mail_sink_owner))"
		return 0
	elif [[ $rc -eq 2 ]]; then
		die "mail-sink: something answers at $(host_port "$SMTP_HOST" "$SMTP_PORT") (ILMO_SMTP_HOST/ILMO_SMTP_PORT) but it is not an SMTP server"
	fi
	is_loopback "$SMTP_HOST" ||
		die "mail-sink: nothing answers at $(host_port "$SMTP_HOST" "$SMTP_PORT") (ILMO_SMTP_HOST/ILMO_SMTP_PORT), which is not a loopback address, so it is not started here"
	python=$(mail_sink_python)
	mkdir -p "$MAIL_DIR"
	start_background mail-sink "$MAIL_SINK_PIDFILE" "$log" \
		"$python" "$MAIL_SINK_SCRIPT" --host "$(bind_address "$SMTP_HOST")" --port "$SMTP_PORT" --dir "$MAIL_DIR"
	pid=$(read_pid "$MAIL_SINK_PIDFILE")
	if ! wait_answer smtp "$SMTP_HOST" "$SMTP_PORT" 20 "$pid"; then
		die "mail-sink: did not answer on $(host_port "$SMTP_HOST" "$SMTP_PORT") within 20 s; see $(rel "$log")"
	fi
	report mail-sink started "smtp://$(host_port "$SMTP_HOST" "$SMTP_PORT") -> $(rel "$MAIL_DIR") (pid $pid)"
}

mail_sink_down() {
	stop_pid mail-sink "$MAIL_SINK_PIDFILE" "$MAIL_SINK_SCRIPT"
}

mail_sink_status() {
	local rc=0
	answers smtp "$SMTP_HOST" "$SMTP_PORT" || rc=$?
	case $rc in
	0) report mail-sink up "smtp://$(host_port "$SMTP_HOST" "$SMTP_PORT") -> $(rel "$MAIL_DIR") ($(mail_sink_owner))" ;;
	1) report mail-sink down "smtp://$(host_port "$SMTP_HOST" "$SMTP_PORT") does not answer" ;;
	*) report mail-sink wrong "smtp://$(host_port "$SMTP_HOST" "$SMTP_PORT") answers, but not as SMTP" ;;
	esac
	[[ $rc -eq 0 ]]
}

# ---------------------------------------------------------------- identity provider

# Ory Hydra, the OpenID Connect provider of development and tests, on its own
# ports (4454, 4455); the gate in front of it (hydra_gate.py) on the issuer's
# and admin API's addresses (4444, 4445), which passes requests on one at a
# time, because Hydra's SQLite store fails under concurrent ones; and its
# login and consent app (dev_login.py, 4446). Each is reused when it answers,
# as the other components are; the addresses are fixed (hydra.yml).

# Builds Hydra into .tools/bin/hydra from the tool module in deploy/local/hydra.
#
# Why not `go install github.com/ory/hydra/v2@v2.3.0`: Hydra's go.mod has a
# replace directive (gobuffalo/pop by ory/pop), which go install refuses. The
# tool module repeats that replace and pins every dependency in its go.sum.
# The sqlite build tag (and cgo) compiles in the SQLite driver: Hydra's
# clients, keys and sessions live in .local/hydra/hydra.sqlite.
hydra_build() {
	local log=$LOG_DIR/hydra-build.log
	command -v go >/dev/null ||
		die "hydra: $(rel "$HYDRA_BIN") is missing and Go is not installed to build it; install Go (https://go.dev/dl/)"
	note "building Ory Hydra $HYDRA_VERSION into $(rel "$HYDRA_BIN") (log: $(rel "$log")); the first build takes a few minutes ..."
	mkdir -p "$TOOLS_BIN"
	local toolchain=${ILMO_HYDRA_GOTOOLCHAIN:-$(go env GOTOOLCHAIN)}
	if ! (
		set -euo pipefail
		printf '\n==== %s: building github.com/ory/hydra/v2@%s with %s\n' \
			"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$HYDRA_VERSION" "$(GOTOOLCHAIN=$toolchain go version)"
		cd "$HYDRA_MODULE_DIR"
		# -mod=readonly: the build uses exactly what go.sum pins, or fails.
		GOTOOLCHAIN=$toolchain CGO_ENABLED=1 GOFLAGS=-mod=readonly go build -tags sqlite -trimpath \
			-ldflags "-X github.com/ory/hydra/v2/driver/config.Version=$HYDRA_VERSION -X github.com/ory/hydra/v2/driver/config.Date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
			-o "$HYDRA_BIN.new" github.com/ory/hydra/v2
		"$HYDRA_BIN.new" version
	) >>"$log" 2>&1; then
		rm -f "$HYDRA_BIN.new"
		die "hydra: building Ory Hydra $HYDRA_VERSION failed (it needs cgo and a C compiler for SQLite); see $(rel "$log")"
	fi
	mv -f "$HYDRA_BIN.new" "$HYDRA_BIN"
	printf '%s\n' "$HYDRA_BUILD_ID" >"$HYDRA_BIN.build"
}

hydra_check_binary() {
	[[ $(cat "$HYDRA_BIN.build" 2>/dev/null) == "$HYDRA_BUILD_ID" ]] || return 1
	[[ $("$HYDRA_BIN" version 2>&1) == *"Version:"*"$HYDRA_VERSION"* ]]
}

# oidc_answers PUBLIC_URL ADMIN_URL: 0 if the discovery document at
# PUBLIC_URL names OIDC_ISSUER and the admin API is ready, 1 if nothing
# listens at PUBLIC_URL, 2 if something else does.
oidc_answers() {
	local public=$1 admin=$2
	parse_url "$public" 80
	port_open "$URL_HOST" "$URL_PORT" || return 1
	curl -fsS --max-time 3 "${public}.well-known/openid-configuration" 2>/dev/null |
		grep -qF "\"issuer\":\"$OIDC_ISSUER\"" || return 2
	curl -fsS -o /dev/null --max-time 3 "$admin/health/ready" 2>/dev/null || return 2
}

# Hydra on its own ports.
hydra_answers() {
	oidc_answers "$HYDRA_OWN_PUBLIC_URL" "$HYDRA_OWN_ADMIN_URL"
}

# The issuer and admin API as everybody uses them: Hydra through the gate.
gate_answers() {
	oidc_answers "$OIDC_ISSUER" "$HYDRA_ADMIN_URL"
}

dev_login_answers() {
	parse_url "$DEV_LOGIN_URL" 4446
	port_open "$URL_HOST" "$URL_PORT" || return 1
	[[ $(curl -fsS --max-time 3 "$DEV_LOGIN_URL/health" 2>/dev/null) == ok ]] || return 2
}

# Hydra's system and cookie secrets, generated once: a second configuration
# file beside hydra.yml, readable by its owner only. Hydra encrypts what it
# stores with the system secret, so the secrets live and go with the database.
hydra_secrets() {
	local file=$HYDRA_STATE_DIR/secrets.yml
	if [[ ! -s $file ]]; then
		(umask 077 && printf 'secrets:\n  system:\n    - %s\n  cookie:\n    - %s\n' \
			"$(random_hex)" "$(random_hex)" >"$file.tmp" && mv -f "$file.tmp" "$file")
	fi
	printf '%s' "$file"
}

# The development users' password: ILMO_DEV_PASSWORD, else generated once.
dev_password_ready() {
	if [[ -z ${ILMO_DEV_PASSWORD:-} && ! -s $DEV_PASSWORD_FILE ]]; then
		(umask 077 && random_hex 12 >"$DEV_PASSWORD_FILE")
	fi
}

# owner PIDFILE NEEDLE: who runs a component, for reports.
owner() {
	local pid
	pid=$(our_pid "$1" "$2")
	if [[ -n $pid ]]; then
		printf 'started by infra.sh, pid %s' "$pid"
	else
		printf 'not started by infra.sh'
	fi
}

hydra_owner() {
	owner "$HYDRA_PIDFILE" "$HYDRA_BIN"
}

hydra_gate_owner() {
	owner "$HYDRA_GATE_PIDFILE" "$HYDRA_GATE_SCRIPT"
}

dev_login_owner() {
	owner "$DEV_LOGIN_PIDFILE" "$DEV_LOGIN_SCRIPT"
}

hydra_up() {
	local rc=0 dsn secrets pid i log=$LOG_DIR/hydra.log
	hydra_answers || rc=$?
	if [[ $rc -eq 0 ]]; then
		report hydra reused "$HYDRA_OWN_PUBLIC_URL, admin $HYDRA_OWN_ADMIN_URL ($(hydra_owner))"
		return 0
	elif [[ $rc -eq 2 ]]; then
		die "hydra: something answers at $HYDRA_OWN_PUBLIC_URL, but not as the OpenID Connect issuer $OIDC_ISSUER with its admin API at $HYDRA_OWN_ADMIN_URL"
	fi
	if [[ ! -x $HYDRA_BIN ]] || ! hydra_check_binary; then
		hydra_build
		hydra_check_binary ||
			die "hydra: $(rel "$HYDRA_BIN") is not Ory Hydra $HYDRA_VERSION built from $(rel "$HYDRA_MODULE_DIR"); delete it to rebuild"
	fi
	mkdir -p "$HYDRA_STATE_DIR"
	secrets=$(hydra_secrets)
	# Requests reach Hydra one at a time (hydra_gate.py); WAL and a busy
	# timeout for what Hydra itself does at once.
	dsn="sqlite://$HYDRA_STATE_DIR/hydra.sqlite?_fk=true&mode=rwc&_journal_mode=WAL&_busy_timeout=10000"
	printf '\n==== %s: migrating the hydra database\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$log"
	DSN=$dsn "$HYDRA_BIN" migrate sql up --read-from-env --yes >>"$log" 2>&1 9>&- ||
		die "hydra: migrating $(rel "$HYDRA_STATE_DIR/hydra.sqlite") failed; see $(rel "$log") (or delete $(rel "$HYDRA_STATE_DIR") to start afresh)"
	start_background hydra "$HYDRA_PIDFILE" "$log" \
		env "DSN=$dsn" "$HYDRA_BIN" serve all --dev --sqa-opt-out --config "$HYDRA_CONFIG" --config "$secrets"
	pid=$(read_pid "$HYDRA_PIDFILE")
	for ((i = 0; i < 120; i++)); do
		hydra_answers && break
		kill -0 "$pid" 2>/dev/null || die "hydra: exited at start; see $(rel "$log")"
		sleep 0.25
	done
	hydra_answers || die "hydra: did not answer at $HYDRA_OWN_PUBLIC_URL within 30 s; see $(rel "$log")"
	report hydra started "$HYDRA_OWN_PUBLIC_URL, admin $HYDRA_OWN_ADMIN_URL (Ory Hydra $HYDRA_VERSION, SQLite in $(rel "$HYDRA_STATE_DIR"), pid $pid)"
}

hydra_gate_up() {
	local rc=0 python pid i public admin log=$LOG_DIR/hydra-gate.log
	gate_answers || rc=$?
	if [[ $rc -eq 0 ]]; then
		report hydra-gate reused "issuer $OIDC_ISSUER, admin $HYDRA_ADMIN_URL ($(hydra_gate_owner))"
		return 0
	elif [[ $rc -eq 2 ]]; then
		die "hydra-gate: something answers at $OIDC_ISSUER, but not as the OpenID Connect issuer $OIDC_ISSUER with its admin API at $HYDRA_ADMIN_URL"
	fi
	python=$(workspace_python hydra-gate uvicorn)
	parse_url "$OIDC_ISSUER" 80
	public=$(host_port "$URL_HOST" "$URL_PORT")
	parse_url "$HYDRA_ADMIN_URL" 80
	admin=$(host_port "$URL_HOST" "$URL_PORT")
	start_background hydra-gate "$HYDRA_GATE_PIDFILE" "$log" \
		"$python" "$HYDRA_GATE_SCRIPT" \
		--listen "$public=${HYDRA_OWN_PUBLIC_URL%/}" --listen "$admin=$HYDRA_OWN_ADMIN_URL"
	pid=$(read_pid "$HYDRA_GATE_PIDFILE")
	for ((i = 0; i < 80; i++)); do
		gate_answers && break
		kill -0 "$pid" 2>/dev/null || die "hydra-gate: exited at start; see $(rel "$log")"
		sleep 0.25
	done
	gate_answers || die "hydra-gate: the issuer did not answer at $OIDC_ISSUER within 20 s; see $(rel "$log")"
	report hydra-gate started "issuer $OIDC_ISSUER, admin $HYDRA_ADMIN_URL: one request at a time to Hydra (pid $pid)"
}

dev_login_up() {
	local rc=0 python pid i log=$LOG_DIR/dev-login.log
	dev_login_answers || rc=$?
	if [[ $rc -eq 0 ]]; then
		report dev-login reused "$DEV_LOGIN_URL ($(dev_login_owner))"
		return 0
	elif [[ $rc -eq 2 ]]; then
		die "dev-login: something answers at $DEV_LOGIN_URL but it is not the development login app"
	fi
	python=$(workspace_python dev-login uvicorn)
	dev_password_ready
	start_background dev-login "$DEV_LOGIN_PIDFILE" "$log" \
		"$python" "$DEV_LOGIN_SCRIPT" --port "${DEV_LOGIN_URL##*:}" \
		--admin-url "$HYDRA_ADMIN_URL" --password-file "$DEV_PASSWORD_FILE"
	pid=$(read_pid "$DEV_LOGIN_PIDFILE")
	for ((i = 0; i < 80; i++)); do
		dev_login_answers && break
		kill -0 "$pid" 2>/dev/null || die "dev-login: exited at start; see $(rel "$log")"
		sleep 0.25
	done
	dev_login_answers || die "dev-login: did not answer at $DEV_LOGIN_URL within 20 s; see $(rel "$log")"
	report dev-login started "$DEV_LOGIN_URL, users organiser, viewer, door, operator; password $(dev_password_source) (pid $pid)"
}

# Where the development users' password comes from, for messages.
dev_password_source() {
	if [[ -n ${ILMO_DEV_PASSWORD:-} ]]; then
		printf 'ILMO_DEV_PASSWORD'
	else
		printf 'in %s' "$(rel "$DEV_PASSWORD_FILE")"
	fi
}

identity_up() {
	hydra_up
	hydra_gate_up
	dev_login_up
}

identity_down() {
	stop_pid dev-login "$DEV_LOGIN_PIDFILE" "$DEV_LOGIN_SCRIPT"
	stop_pid hydra-gate "$HYDRA_GATE_PIDFILE" "$HYDRA_GATE_SCRIPT"
	stop_pid hydra "$HYDRA_PIDFILE" "$HYDRA_BIN"
}

identity_status() {
	local rc=0 ok=0
	hydra_answers || rc=$?
	case $rc in
	0) report hydra up "$HYDRA_OWN_PUBLIC_URL, admin $HYDRA_OWN_ADMIN_URL ($(hydra_owner))" ;;
	1) report hydra down "$HYDRA_OWN_PUBLIC_URL does not answer" ;;
	*) report hydra wrong "$HYDRA_OWN_PUBLIC_URL answers, but not as Hydra for $OIDC_ISSUER" ;;
	esac
	[[ $rc -eq 0 ]] || ok=1
	rc=0
	gate_answers || rc=$?
	case $rc in
	0) report hydra-gate up "issuer $OIDC_ISSUER, admin $HYDRA_ADMIN_URL ($(hydra_gate_owner))" ;;
	1) report hydra-gate down "$OIDC_ISSUER does not answer" ;;
	*) report hydra-gate wrong "$OIDC_ISSUER answers, but not as that OpenID Connect issuer" ;;
	esac
	[[ $rc -eq 0 ]] || ok=1
	rc=0
	dev_login_answers || rc=$?
	case $rc in
	0) report dev-login up "$DEV_LOGIN_URL ($(dev_login_owner))" ;;
	1) report dev-login down "$DEV_LOGIN_URL does not answer" ;;
	*) report dev-login wrong "$DEV_LOGIN_URL answers, but not as the development login app" ;;
	esac
	[[ $rc -eq 0 && $ok -eq 0 ]]
}

# ---------------------------------------------------------------- Prometheus

# prometheus_answers: 0 if a Prometheus answers at PROMETHEUS_ADDR, 1 if
# nothing listens there, 2 if something else does.
prometheus_answers() {
	parse_url "http://$PROMETHEUS_ADDR" 9090
	port_open "$URL_HOST" "$URL_PORT" || return 1
	[[ $(curl -fsS --max-time 3 "http://$PROMETHEUS_ADDR/-/ready" 2>/dev/null) == *Prometheus* ]] || return 2
}

prometheus_owner() {
	owner "$PROMETHEUS_PIDFILE" "$PROMETHEUS_CONFIG"
}

# The configuration from the template, with this checkout's absolute paths.
prometheus_config() {
	local tmp=$PROMETHEUS_CONFIG.tmp
	parse_url "$AMQP_URL" 5672
	sed -e "s|@REPO_ROOT@|$REPO_ROOT|g" -e "s|@LOCAL_DIR@|$LOCAL_DIR|g" \
		-e "s|@RABBITMQ_PROMETHEUS@|$(host_port "$URL_HOST" "$RABBITMQ_PROMETHEUS_PORT")|g" \
		-e "s|@FERRETDB_DEBUG_ADDR@|$FERRETDB_DEBUG_ADDR|g" \
		-e "s|@PROMETHEUS_ADDR@|$PROMETHEUS_ADDR|g" \
		"$PROMETHEUS_TEMPLATE" >"$tmp"
	if command -v promtool >/dev/null && ! promtool check config --syntax-only "$tmp" >>"$LOG_DIR/prometheus.log" 2>&1; then
		die "prometheus: the configuration written from $(rel "$PROMETHEUS_TEMPLATE") is not valid; see $(rel "$LOG_DIR/prometheus.log")"
	fi
	mv -f "$tmp" "$PROMETHEUS_CONFIG"
}

prometheus_up() {
	local rc=0 pid i log=$LOG_DIR/prometheus.log
	mkdir -p "$PROMETHEUS_STATE_DIR/targets" "$PROMETHEUS_STATE_DIR/data"
	prometheus_answers || rc=$?
	if [[ $rc -eq 0 ]]; then
		pid=$(our_pid "$PROMETHEUS_PIDFILE" "$PROMETHEUS_CONFIG")
		if [[ -n $pid ]]; then
			# Ours: take up the template's and the rules' changes.
			prometheus_config
			kill -HUP "$pid"
		fi
		report prometheus reused "http://$PROMETHEUS_ADDR ($(prometheus_owner))"
		return 0
	elif [[ $rc -eq 2 ]]; then
		die "prometheus: something answers at $PROMETHEUS_ADDR (ILMO_PROMETHEUS_ADDR) but it is not Prometheus"
	fi
	parse_url "http://$PROMETHEUS_ADDR" 9090
	is_loopback "$URL_HOST" ||
		die "prometheus: nothing answers at $PROMETHEUS_ADDR (ILMO_PROMETHEUS_ADDR), which is not a loopback address, so it is not started here"
	# Debian's prometheus package, with promtool (the one install: promtool.sh).
	if ! command -v prometheus >/dev/null; then
		"$SCRIPT_DIR/promtool.sh" >>"$LOG_DIR/prometheus-install.log"
		command -v prometheus >/dev/null ||
			die "prometheus: no \`prometheus\` on PATH; set ILMO_PROMETHEUS_ADDR to a running Prometheus"
	fi
	prometheus_config
	start_background prometheus "$PROMETHEUS_PIDFILE" "$log" \
		prometheus --config.file="$PROMETHEUS_CONFIG" \
		--storage.tsdb.path="$PROMETHEUS_STATE_DIR/data" --storage.tsdb.retention.time=7d \
		--web.listen-address="$PROMETHEUS_ADDR" --web.enable-lifecycle
	pid=$(read_pid "$PROMETHEUS_PIDFILE")
	for ((i = 0; i < 120; i++)); do
		prometheus_answers && break
		kill -0 "$pid" 2>/dev/null || die "prometheus: exited at start; see $(rel "$log")"
		sleep 0.25
	done
	prometheus_answers || die "prometheus: did not answer at $PROMETHEUS_ADDR within 30 s; see $(rel "$log")"
	report prometheus started "http://$PROMETHEUS_ADDR (rules deploy/prometheus/rules, targets $(rel "$PROMETHEUS_STATE_DIR/targets"), pid $pid)"
}

prometheus_down() {
	stop_pid prometheus "$PROMETHEUS_PIDFILE" "$PROMETHEUS_CONFIG"
}

prometheus_status() {
	local rc=0
	prometheus_answers || rc=$?
	case $rc in
	0) report prometheus up "http://$PROMETHEUS_ADDR ($(prometheus_owner))" ;;
	1) report prometheus down "http://$PROMETHEUS_ADDR does not answer" ;;
	*) report prometheus wrong "http://$PROMETHEUS_ADDR answers, but not as Prometheus" ;;
	esac
	[[ $rc -eq 0 ]]
}

# ---------------------------------------------------------------- main

usage() {
	printf 'usage: %s up|down|status\n' "$0" >&2
	exit 2
}

main() {
	[[ $# -eq 1 ]] || usage
	case $1 in
	up)
		ensure_dirs
		take_lock
		tls_material
		rabbitmq_up
		ferretdb_up
		redis_up
		mail_sink_up
		identity_up
		prometheus_up
		;;
	down)
		ensure_dirs
		take_lock
		prometheus_down
		identity_down
		mail_sink_down
		redis_down
		ferretdb_down
		rabbitmq_down
		;;
	status)
		local rc=0
		rabbitmq_status || rc=1
		ferretdb_status || rc=1
		redis_status || rc=1
		mail_sink_status || rc=1
		identity_status || rc=1
		prometheus_status || rc=1
		return "$rc"
		;;
	*) usage ;;
	esac
}

main "$@"
