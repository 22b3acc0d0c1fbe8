#!/usr/bin/env bash
# What building and running Ilmo's container image needs on a Debian machine:
# podman with the runc runtime, mmdebstrap for the local base image, and
# uidmap (podman's user-namespace helpers). Debian 12's own packages.
#
#   deploy/image/tools.sh     install what is missing; check that podman runs
#                             with deploy/image/containers.conf; print versions
#
# crun, which apt would pick for podman by default, refuses the hybrid cgroup
# layout of these machines; runc is installed in the same apt-get call so that
# it is the runtime that satisfies podman's dependency. Recommends are left
# out: buildah, slirp4netns, fuse-overlayfs and dbus-user-session serve
# rootless setups and podman's own build needs none of them.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

# package -> the command that shows it is installed
declare -A COMMANDS=([podman]=podman [runc]=runc [mmdebstrap]=mmdebstrap [uidmap]=newuidmap)

missing_packages() {
	local package
	for package in "${!COMMANDS[@]}"; do
		command -v "${COMMANDS[$package]}" >/dev/null 2>&1 || printf '%s\n' "$package"
	done | sort
}

install_packages() {
	local log=$LOG_DIR/containers-install.log
	[[ $(id -u) -eq 0 ]] ||
		die "containers: missing $*; install them as root (apt-get install --no-install-recommends $*)"
	command -v apt-get >/dev/null || die "containers: missing $* and there is no apt-get"
	note "installing Debian packages $* (log: $(rel "$log")) ..."
	{
		apt-get update &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
	} >>"$log" 2>&1 || die "containers: apt-get install $* failed; see $(rel "$log")"
}

main() {
	local -a missing
	local state=ready
	ensure_dirs
	mapfile -t missing < <(missing_packages)
	if ((${#missing[@]} > 0)); then
		install_packages "${missing[@]}"
		state=installed
		mapfile -t missing < <(missing_packages)
		((${#missing[@]} == 0)) || die "containers: still missing after apt-get: ${missing[*]}"
	fi
	# One real call with the project's settings: a broken runtime shows here,
	# not half-way through a build.
	ilmo_podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}}' \
		>"$LOG_DIR/containers-info.log" 2>&1 ||
		die "containers: podman does not run with $(rel "$CONTAINERS_CONF_FILE"); see $(rel "$LOG_DIR/containers-info.log")"
	report containers "$state" "podman $(podman --version | awk '{print $3}')," \
		"runtime $(cat "$LOG_DIR/containers-info.log"), mmdebstrap $(mmdebstrap --version | awk '{print $2}')"
}

main "$@"
