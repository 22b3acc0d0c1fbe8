# Shared shell functions of the deploy/local scripts: paths, pid files, background
# processes, probes. Sourced, not run; the sourcing script sets PROG for messages.
# shellcheck shell=bash
# shellcheck disable=SC2034 # variables here are used by the scripts that source this file

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd -P)
# Git-ignored local state: pid files, logs, databases, mail, generated secrets.
# ILMO_LOCAL_DIR moves it elsewhere (tests use a temporary directory, so that
# they never touch, or reuse, what a developer's `make run` started).
LOCAL_DIR=${ILMO_LOCAL_DIR:-$REPO_ROOT/.local}
RUN_DIR=$LOCAL_DIR/run
LOG_DIR=$LOCAL_DIR/log
TOOLS_BIN=$REPO_ROOT/.tools/bin
PROG=${PROG:-$(basename -- "$0")}
# ---------------------------------------------------------------- helpers

die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 1
}

# Progress note for slow steps (install, build); stdout keeps one line per component.
note() {
	printf '%s: %s\n' "$PROG" "$*" >&2
}

# report COMPONENT STATE DETAILS...
report() {
	local component=$1 state=$2
	shift 2
	printf '%-12s %-8s %s\n' "$component" "$state" "$*"
}

# Path relative to the repository root, for messages.
rel() {
	case $1 in
	"$REPO_ROOT"/*) printf '%s' "${1#"$REPO_ROOT"/}" ;;
	*) printf '%s' "$1" ;;
	esac
}

# debian_install COMPONENT PACKAGE ADDRESS ALTERNATIVE
# Install a Debian package for a component that does not answer at ADDRESS,
# or die saying how else to get it (ALTERNATIVE, e.g. "set ILMO_X_URL to ...").
# Needs root and apt-get; the output goes to .local/log/COMPONENT-install.log.
debian_install() {
	local component=$1 package=$2 address=$3 alternative=$4
	local log=$LOG_DIR/$component-install.log
	[[ $(id -u) -eq 0 ]] ||
		die "$component: nothing answers at $address and $package is not installed; install it as root (apt-get install $package) or $alternative"
	command -v apt-get >/dev/null ||
		die "$component: $package is not installed and there is no apt-get; install it or $alternative"
	note "installing Debian package $package (log: $(rel "$log")) ..."
	{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "$package"; } >>"$log" 2>&1 ||
		die "$component: apt-get install $package failed; see $(rel "$log")"
}

# parse_url URL DEFAULT_PORT: sets URL_HOST and URL_PORT from the first host of
# scheme://[user[:password]@]host[:port][,host2...][/path][?query].
parse_url() {
	local url=$1 default_port=$2 authority
	authority=${url#*://}
	authority=${authority%%[/?#]*}
	authority=${authority##*@}
	authority=${authority%%,*}
	if [[ $authority =~ ^\[([0-9A-Fa-f:.]+)\](:([0-9]+))?$ ]]; then
		URL_HOST=${BASH_REMATCH[1]}
		URL_PORT=${BASH_REMATCH[3]:-$default_port}
	elif [[ $authority =~ ^([^:]+)(:([0-9]+))?$ ]]; then
		URL_HOST=${BASH_REMATCH[1]}
		URL_PORT=${BASH_REMATCH[3]:-$default_port}
	else
		die "cannot read host and port from URL ${url%%://*}://…${authority}"
	fi
}

# host:port, with brackets around IPv6 addresses.
host_port() {
	case $1 in
	*:*) printf '[%s]:%s' "$1" "$2" ;;
	*) printf '%s:%s' "$1" "$2" ;;
	esac
}

is_loopback() {
	case $1 in
	localhost | 127.* | ::1) return 0 ;;
	*) return 1 ;;
	esac
}

# Address to bind a server to, for a loopback host name.
bind_address() {
	case $1 in
	localhost) printf '127.0.0.1' ;;
	*) printf '%s' "$1" ;;
	esac
}

port_open() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# probe HOST PORT REQUEST NBYTES: send REQUEST (a printf format) and print
# the first NBYTES of the reply in hex.
probe() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "$3" >&3 && head -c "$4" <&3' \
		_ "$@" 2>/dev/null | od -An -v -tx1 | tr -d ' \n'
}

# OP_QUERY {isMaster: 1} on admin.$cmd: the legacy handshake, which MongoDB
# (7.0 included) and FerretDB answer with OP_REPLY.
MONGODB_ISMASTER='\x3a\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xd4\x07\x00\x00'
# shellcheck disable=SC2016 # a literal $ in the collection name admin.$cmd
MONGODB_ISMASTER+='\x00\x00\x00\x00admin.$cmd\x00\x00\x00\x00\x00\xff\xff\xff\xff'
MONGODB_ISMASTER+='\x13\x00\x00\x00\x10isMaster\x00\x01\x00\x00\x00\x00'

# answers KIND HOST PORT: 0 if a server speaking KIND (amqp, mongodb, smtp, redis)
# answers there, 1 if nothing accepts connections, 2 if something else does.
# A bare TCP connect is not enough: a port can be taken by another program,
# and some sandboxes accept connections to any outside address.
answers() {
	local kind=$1 host=$2 port=$3 reply
	port_open "$host" "$port" || return 1
	case $kind in
	amqp)
		# An AMQP 0-9-1 broker answers the protocol header with a method frame.
		reply=$(probe "$host" "$port" 'AMQP\x00\x00\x09\x01' 1)
		[[ $reply == 01 ]] || return 2
		;;
	mongodb)
		reply=$(probe "$host" "$port" "$MONGODB_ISMASTER" 16)
		[[ ${reply:24:8} == 01000000 ]] || return 2 # opCode 1, OP_REPLY
		;;
	smtp)
		reply=$(probe "$host" "$port" '' 3)
		[[ $reply == 323230 ]] || return 2 # greeting "220"
		;;
	redis)
		reply=$(probe "$host" "$port" 'PING\r\n' 5)
		[[ $reply == 2b504f4e47 ]] || return 2 # "+PONG"
		;;
	esac
}

# wait_answer KIND HOST PORT SECONDS [PID]: wait until a KIND server answers;
# give up early if PID (the process that should answer) exits.
wait_answer() {
	local kind=$1 host=$2 port=$3 seconds=$4 pid=${5:-} i
	for ((i = 0; i < seconds * 4; i++)); do
		answers "$kind" "$host" "$port" && return 0
		if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		sleep 0.25
	done
	return 1
}

# Pid recorded in a pid file, or nothing.
read_pid() {
	local pid=
	if [[ -f $1 ]]; then
		read -r pid <"$1" 2>/dev/null || true
	fi
	[[ $pid =~ ^[0-9]+$ ]] && printf '%s' "$pid"
	return 0
}

# pid_is PID NEEDLE: the process is alive and its command line contains NEEDLE
# (guards against a recycled pid before signalling it).
pid_is() {
	local pid=$1 needle=$2 args
	kill -0 "$pid" 2>/dev/null || return 1
	if [[ -r /proc/$pid/cmdline ]]; then
		args=$(tr '\0' ' ' <"/proc/$pid/cmdline")
	else
		args=$(ps -o args= -p "$pid" 2>/dev/null) || return 1
	fi
	[[ $args == *"$needle"* ]]
}

# Pid from PIDFILE if that process is alive and matches NEEDLE, else nothing.
our_pid() {
	local pid
	pid=$(read_pid "$1")
	if [[ -n $pid ]] && pid_is "$pid" "$2"; then
		printf '%s' "$pid"
	fi
	return 0
}

wait_pid_gone() {
	local pid=$1 seconds=$2 i
	for ((i = 0; i < seconds * 4; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.25
	done
	return 1
}

# start_background NAME PIDFILE LOGFILE COMMAND...: run COMMAND in its own
# session, detached from the terminal, and record its pid. The pid is written
# by the process itself just before it execs COMMAND, so it is the server's
# pid even if setsid had to fork.
start_background() {
	local name=$1 pidfile=$2 log=$3 i pid
	shift 3
	rm -f "$pidfile"
	printf '\n==== %s: starting %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$name" >>"$log"
	# shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
	setsid nohup sh -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' \
		"$pidfile" "$@" >>"$log" 2>&1 </dev/null 9>&- &
	for ((i = 0; i < 40; i++)); do
		pid=$(read_pid "$pidfile")
		[[ -n $pid ]] && return 0
		sleep 0.25
	done
	die "$name: could not start (no pid file written); see $(rel "$log")"
}

# stop_pid NAME PIDFILE NEEDLE: SIGTERM the recorded process, SIGKILL after 20 s.
stop_pid() {
	local name=$1 pidfile=$2 needle=$3 pid
	pid=$(read_pid "$pidfile")
	if [[ ! -e $pidfile ]]; then
		report "$name" skipped "not started by $PROG (no $(rel "$pidfile"))"
		return 0
	fi
	if [[ -z $pid ]] || ! pid_is "$pid" "$needle"; then
		rm -f "$pidfile"
		report "$name" gone "pid ${pid:-?} is not running (or is another program); removed stale $(rel "$pidfile")"
		return 0
	fi
	kill -TERM "$pid"
	if ! wait_pid_gone "$pid" 20; then
		kill -KILL "$pid" 2>/dev/null || true
		wait_pid_gone "$pid" 5 || die "$name: pid $pid does not exit even after SIGKILL"
		rm -f "$pidfile"
		report "$name" killed "pid $pid did not exit within 20 s of SIGTERM"
		return 0
	fi
	rm -f "$pidfile"
	report "$name" stopped "pid $pid"
}

# A random secret of 64 hex digits (32 bytes), or of $1 bytes.
random_hex() {
	head -c "${1:-32}" /dev/urandom | od -An -v -tx1 | tr -d ' \n'
}

# system_command NAME: NAME's path on PATH, or in /usr/sbin (Debian puts
# servers there, and a user's PATH often lacks it); nothing if neither.
system_command() {
	if command -v "$1" 2>/dev/null; then
		return 0
	fi
	[[ -x /usr/sbin/$1 ]] && printf '/usr/sbin/%s\n' "$1"
	return 0
}

ensure_dirs() {
	mkdir -p "$RUN_DIR" "$LOG_DIR"
}

# Serialize concurrent runs (e.g. parallel make targets). Servers are started
# with fd 9 closed, or they would hold the lock for as long as they run.
take_lock() {
	exec 9>"$RUN_DIR/${PROG%.sh}.lock"
	flock -w 300 9 || die "another $PROG is still running (lock $(rel "$RUN_DIR/${PROG%.sh}.lock"))"
}


# ---------------------------------------------------------------- development certificates
# One recipe for the private CAs of local development (infra.sh's .local/tls)
# and of the compose stack (deploy/compose/secrets.sh): EC P-256 keys.

# new_ca KEY PEM COMMON_NAME DAYS: a self-signed CA that may sign server
# certificates and nothing below them. openssl's output goes to stderr.
new_ca() {
	local key=$1 pem=$2 name=$3 days=$4
	openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-keyout "$key" -out "$pem" -days "$days" -subj "/O=Ilmo development/CN=$name" \
		-addext 'basicConstraints=critical,CA:TRUE,pathlen:0' \
		-addext 'keyUsage=critical,keyCertSign,cRLSign' >&2
}

# new_server_certificate CA_PEM CA_KEY KEY PEM COMMON_NAME DAYS USAGES NAMES:
# a certificate signed by that CA, for the extended key USAGES
# (e.g. serverAuth,clientAuth) and the subjectAltName NAMES
# (e.g. DNS:localhost,IP:127.0.0.1). openssl's output goes to stderr.
new_server_certificate() {
	local ca_pem=$1 ca_key=$2 key=$3 pem=$4 name=$5 days=$6 usages=$7 names=$8 extensions rc=0
	extensions=$(mktemp)
	printf '%s\n' 'basicConstraints=critical,CA:FALSE' \
		'keyUsage=critical,digitalSignature,keyEncipherment' \
		"extendedKeyUsage=$usages" "subjectAltName=$names" >"$extensions"
	{
		openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
			-keyout "$key" -out "$pem.csr" -subj "/O=Ilmo development/CN=$name" &&
			openssl x509 -req -in "$pem.csr" -CA "$ca_pem" -CAkey "$ca_key" -CAcreateserial \
				-days "$days" -extfile "$extensions" -out "$pem"
	} >&2 || rc=$?
	rm -f "$extensions" "$pem.csr"
	return "$rc"
}
