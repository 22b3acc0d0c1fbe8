#!/usr/bin/env bash
# A RabbitMQ cluster of N nodes on this machine, from Debian's rabbitmq-server
# package (the one infra.sh installs), beside the single node of `make infra`
# and never touching it: its own node names, ports and data folders.
#
#   deploy/local/cluster.sh up           start the nodes that are not running, join
#                                        the new ones to the first, wait for all
#   deploy/local/cluster.sh down         stop every node of the cluster (clean stop)
#   deploy/local/cluster.sh status       each node as the cluster sees it; exit 1 if one is down
#   deploy/local/cluster.sh urls         the ILMO_AMQP_URL value naming every node
#   deploy/local/cluster.sh start-node I start node I again (after a kill or a stop):
#                                        it rejoins the cluster from its own data
#   deploy/local/cluster.sh stop-node I  stop node I cleanly; the others carry on
#
# Settings (environment):
#   ILMO_CLUSTER_NODES  number of nodes (default 3)
#   ILMO_CLUSTER_DIR    the nodes' data, logs and pid files (default .local/cluster)
#   ILMO_CLUSTER_NAME   node name prefix: nodes are <prefix>1@localhost ... (default ilmo-c)
#   ILMO_CLUSTER_PORT   AMQP port of node 1 (default 5681); node I listens on
#                       AMQP PORT+I-1, management PORT+10000+I-1, Prometheus
#                       PORT+10100+I-1, Erlang distribution PORT+20000+I-1.
#   ILMO_CLUSTER_START_TIMEOUT  seconds a node may take to boot (default 300)
#
# Every node is started as infra.sh starts the single node: the Debian
# wrapper runs it as the rabbitmq user, whose ~/.erlang.cookie all of them
# share (one cookie: the nodes and rabbitmqctl trust each other), with the
# plugins the single node enables (management, for the broker users, and
# prometheus). Quorum queues get a member on every node of the cluster
# (ilmo_shared.messaging.topology). Used by `make run CLUSTER=3`, and through
# tests/support/cluster.py by the chaos run (its broker: one node, or three
# with --cluster 3), bench.run --cluster 3 and the cluster's integration test.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

NODES=${ILMO_CLUSTER_NODES:-3}
CLUSTER_DIR=${ILMO_CLUSTER_DIR:-$LOCAL_DIR/cluster}
NAME_PREFIX=${ILMO_CLUSTER_NAME:-ilmo-c}
BASE_PORT=${ILMO_CLUSTER_PORT:-5681}
# A restarting node waits for its peers' tables up to 10 x 30 s (RabbitMQ's
# mnesia_table_loading_retry_limit and _timeout): wait as long as it does.
START_TIMEOUT=${ILMO_CLUSTER_START_TIMEOUT:-300}
START_ATTEMPTS=3

[[ $NODES =~ ^[1-9]$ ]] || die "ILMO_CLUSTER_NODES must be 1 to 9, not '$NODES'"
[[ $START_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "ILMO_CLUSTER_START_TIMEOUT must be a number of seconds, not '$START_TIMEOUT'"
[[ $BASE_PORT =~ ^[0-9]+$ ]] || die "ILMO_CLUSTER_PORT must be a port number, not '$BASE_PORT'"

node_name() { printf '%s%s@localhost' "$NAME_PREFIX" "$1"; }
amqp_port() { printf '%s' $((BASE_PORT + $1 - 1)); }
management_port() { printf '%s' $((BASE_PORT + 10000 + $1 - 1)); }
prometheus_port() { printf '%s' $((BASE_PORT + 10100 + $1 - 1)); }
distribution_port() { printf '%s' $((BASE_PORT + 20000 + $1 - 1)); }
node_dir() { printf '%s/n%s' "$CLUSTER_DIR" "$1"; }

# The pid of node I if it runs: the recorded pid, if that process is a beam
# started with node I's name (its command line does not carry the name, its
# environment does), so that a recycled pid is never signalled.
node_pid() {
	local pid
	pid=$(our_pid "$(node_dir "$1")/node.pid" beam)
	[[ -n $pid ]] && tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null |
		grep -qxF "RABBITMQ_NODENAME=$(node_name "$1")" && printf '%s' "$pid"
	return 0
}

# rabbitmqctl against node I, with the node's own environment (as it was started).
ctl() {
	local i=$1
	shift
	node_env "$i" rabbitmqctl -q -n "$(node_name "$i")" "$@"
}

# node_env I COMMAND...: COMMAND with the environment that names node I's
# files; the wrapper scripts pass it on when they switch to the rabbitmq user.
node_env() {
	local i=$1 dir
	shift
	dir=$(node_dir "$i")
	env RABBITMQ_NODENAME="$(node_name "$i")" \
		RABBITMQ_DIST_PORT="$(distribution_port "$i")" \
		RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
		RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
		RABBITMQ_MNESIA_BASE="$dir/mnesia" \
		RABBITMQ_LOG_BASE="$dir/log" \
		RABBITMQ_PID_FILE="$dir/node.pid" \
		"$@"
}

# The node's configuration, written at every start (ports may have changed).
node_prepare() {
	local i=$1 dir
	dir=$(node_dir "$i")
	mkdir -p "$dir/log" "$dir/mnesia"
	cat >"$dir/rabbitmq.conf" <<-EOF
		listeners.tcp.default = 127.0.0.1:$(amqp_port "$i")
		management.tcp.ip = 127.0.0.1
		management.tcp.port = $(management_port "$i")
		prometheus.tcp.ip = 127.0.0.1
		prometheus.tcp.port = $(prometheus_port "$i")
	EOF
	printf '[rabbitmq_management,rabbitmq_prometheus].\n' >"$dir/enabled_plugins"
	if [[ $(id -u) -eq 0 ]]; then
		chown -R rabbitmq: "$dir"
	fi
}

node_start() {
	local i=$1 dir log pid
	dir=$(node_dir "$i")
	log=$dir/start.log
	if [[ -n $(node_pid "$i") ]]; then
		return 0
	fi
	local port
	for port in "$(amqp_port "$i")" "$(management_port "$i")" "$(prometheus_port "$i")" "$(distribution_port "$i")"; do
		port_open 127.0.0.1 "$port" &&
			die "node $i: port $port is taken by another program; choose another ILMO_CLUSTER_PORT"
	done
	node_prepare "$i"
	local attempt
	for ((attempt = 1; ; attempt++)); do
		node_boot "$i" && break
		# A beam still booting is waiting for something (its peers' tables):
		# starting another would not help. One that died during its boot (its
		# name still held in epmd by the killed one, say) is started again.
		if [[ -n $(node_pid "$i") || $attempt -ge $START_ATTEMPTS ]]; then
			die "node $i: $(node_name "$i") did not start within $START_TIMEOUT s (attempt $attempt); see $dir/log. The end of its log:
$(node_log_tail "$i")"
		fi
		printf '==== %s: the node died during its boot; starting it again\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$log"
	done
	pid=$(node_pid "$i")
	wait_answer amqp 127.0.0.1 "$(amqp_port "$i")" 60 "$pid" ||
		die "node $i: up, but AMQP does not answer on 127.0.0.1:$(amqp_port "$i"); see $dir/log"
	# The management API makes the users (run.sh, the tests): wait for it too.
	local tries
	for ((tries = 0; tries < 240; tries++)); do
		port_open 127.0.0.1 "$(management_port "$i")" && return 0
		sleep 0.25
	done
	die "node $i: up, but its management API does not listen on 127.0.0.1:$(management_port "$i"); see $dir/log"
}

# One boot of node I: the detached server, then rabbitmqctl's wait for it
# (the pid file, then the rabbit application); fails if either does.
node_boot() {
	local i=$1 dir log
	dir=$(node_dir "$i")
	log=$dir/start.log
	rm -f "$dir/node.pid"
	printf '\n==== %s: starting %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(node_name "$i")" >>"$log"
	(cd /tmp && node_env "$i" rabbitmq-server -detached) >>"$log" 2>&1 9>&- ||
		die "node $i: rabbitmq-server -detached failed; see $log"
	ctl "$i" wait --timeout "$START_TIMEOUT" "$dir/node.pid" >>"$log" 2>&1
}

# The last lines of node I's start log and server log: a failed start says
# why where it is reported (a CI log), not only in files that may be gone.
node_log_tail() {
	local i=$1 dir
	dir=$(node_dir "$i")
	tail -n 5 "$dir/start.log" 2>/dev/null || true
	tail -n 25 "$dir/log/$(node_name "$i").log" 2>/dev/null | cut -c1-240 || true
}

# A node that has never been clustered joins node 1; one that has (its data
# says so) rejoins by itself when it starts.
node_join() {
	local i=$1 dir log
	dir=$(node_dir "$i")
	log=$dir/start.log
	[[ $i -eq 1 || -e $dir/joined ]] && return 0
	{
		ctl "$i" stop_app &&
			ctl "$i" join_cluster "$(node_name 1)" &&
			ctl "$i" start_app
	} >>"$log" 2>&1 || die "node $i: could not join $(node_name 1); see $log"
	touch "$dir/joined"
}

cluster_up() {
	local i
	mkdir -p "$CLUSTER_DIR"
	chmod 755 "$CLUSTER_DIR" # the rabbitmq user must reach the nodes' folders
	command -v rabbitmq-server >/dev/null ||
		die "rabbitmq-server is not installed; run \`make infra\` first (it installs Debian's package)"
	[[ $(id -u) -eq 0 || $(id -un) == rabbitmq ]] ||
		die "the Debian broker can only be started by root or rabbitmq (try: sudo $0 up)"
	exec 9>"$CLUSTER_DIR/cluster.lock"
	flock -w 300 9 || die "another cluster.sh is working on $CLUSTER_DIR"
	# The nodes boot at once (each takes 10-30 s), then join one after the other.
	local starting=() failed=0
	for ((i = 1; i <= NODES; i++)); do
		node_start "$i" &
		starting+=($!)
	done
	for i in "${starting[@]}"; do
		wait "$i" || failed=1
	done
	[[ $failed -eq 0 ]] || die "not every node started; see the start.log and log/ of each under $CLUSTER_DIR"
	for ((i = 1; i <= NODES; i++)); do
		node_join "$i"
	done
	ctl 1 await_online_nodes "$NODES" --timeout $((START_TIMEOUT * 1000)) ||
		die "the cluster has not got $NODES running nodes within $START_TIMEOUT s"
	for ((i = 1; i <= NODES; i++)); do
		report "$(node_name "$i")" up "amqp://127.0.0.1:$(amqp_port "$i")/, management http://127.0.0.1:$(management_port "$i") (pid $(node_pid "$i"))"
	done
}

node_stop() {
	local i=$1 dir pid
	dir=$(node_dir "$i")
	pid=$(node_pid "$i")
	if [[ -z $pid ]]; then
		report "$(node_name "$i")" down "not running"
		return 0
	fi
	ctl "$i" stop "$dir/node.pid" >>"$dir/start.log" 2>&1 || true
	if ! wait_pid_gone "$pid" 60; then
		kill -KILL "$pid" 2>/dev/null || true
		wait_pid_gone "$pid" 10 || die "node $i: pid $pid does not exit even after SIGKILL"
	fi
	report "$(node_name "$i")" stopped "pid $pid"
}

cluster_down() {
	local i
	# The last node down is the first one up (RabbitMQ waits for the last
	# node to stop at a cluster's start): stop node 1 last.
	for ((i = NODES; i >= 1; i--)); do
		node_stop "$i"
	done
}

cluster_status() {
	local i rc=0 pid
	for ((i = 1; i <= NODES; i++)); do
		pid=$(node_pid "$i")
		if [[ -n $pid ]] && answers amqp 127.0.0.1 "$(amqp_port "$i")"; then
			report "$(node_name "$i")" up "amqp://127.0.0.1:$(amqp_port "$i")/ (pid $pid)"
		else
			report "$(node_name "$i")" down "amqp://127.0.0.1:$(amqp_port "$i")/"
			rc=1
		fi
	done
	return "$rc"
}

cluster_urls() {
	local i urls=()
	for ((i = 1; i <= NODES; i++)); do
		urls+=("amqp://guest:guest@127.0.0.1:$(amqp_port "$i")/")
	done
	(
		IFS=,
		printf '%s\n' "${urls[*]}"
	)
}

usage() {
	printf 'usage: %s up|down|status|urls|start-node I|stop-node I\n' "$0" >&2
	exit 2
}

node_index() {
	[[ ${1:-} =~ ^[1-9]$ && $1 -le $NODES ]] || die "node index must be 1 to $NODES"
}

main() {
	[[ $# -ge 1 ]] || usage
	case $1 in
	up) cluster_up ;;
	down) cluster_down ;;
	status) cluster_status ;;
	urls) cluster_urls ;;
	start-node)
		node_index "${2:-}"
		node_start "$2"
		;;
	stop-node)
		node_index "${2:-}"
		node_stop "$2"
		;;
	*) usage ;;
	esac
}

main "$@"
