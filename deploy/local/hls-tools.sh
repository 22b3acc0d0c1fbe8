#!/usr/bin/env bash
# The two programs of the local HLS origin (docs/operations.md, "The HLS
# origin for signed playback"): Debian's nginx, which must have been built
# with ngx_http_secure_link_module (it checks the signed playback URLs), and
# Debian's ffmpeg, which makes the live test stream. Nothing is started here:
# deploy/local/hls-origin.sh runs nginx as its own process, and the package's
# own service is neither used nor left enabled.
#
#   deploy/local/hls-tools.sh    install nginx and ffmpeg if missing; print where they are
#
# The integration test of the origin (tests/integration/test_hls_origin.py)
# needs both: `make hls-tools` runs this, and `make pytest` depends on it.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

# The configure flag of the module that checks the signatures (`nginx -V`).
SECURE_LINK_FLAG=--with-http_secure_link_module

nginx_ready() {
	local nginx=$1 built
	built=$("$nginx" -V 2>&1) || die "hls-tools: $nginx -V failed: $built"
	[[ $built == *"$SECURE_LINK_FLAG"* ]] ||
		die "hls-tools: $nginx was built without $SECURE_LINK_FLAG, so it cannot check signed URLs; install Debian's nginx package"
	report nginx ready "$nginx ($("$nginx" -v 2>&1 | sed 's/^nginx version: //'), with ngx_http_secure_link_module)"
}

ffmpeg_ready() {
	local ffmpeg=$1 encoders version
	# The test stream: lavfi's testsrc2 and sine, x264 and AAC, the HLS muxer.
	# (Read whole, not piped into grep -q: under pipefail, ffmpeg's SIGPIPE
	# when grep stops reading early would fail the check.)
	encoders=$("$ffmpeg" -hide_banner -encoders 2>/dev/null) ||
		die "hls-tools: $ffmpeg -encoders failed"
	[[ $encoders == *" libx264 "* ]] ||
		die "hls-tools: $ffmpeg has no libx264 encoder; install Debian's ffmpeg package"
	version=$("$ffmpeg" -hide_banner -version 2>/dev/null) || die "hls-tools: $ffmpeg -version failed"
	report ffmpeg ready "$ffmpeg (${version%%$'\n'*})"
}

main() {
	local nginx ffmpeg
	ensure_dirs
	nginx=$(system_command nginx)
	if [[ -z $nginx ]]; then
		debian_install hls-tools nginx "\`nginx\` on PATH" "install nginx with $SECURE_LINK_FLAG"
		# Where systemd runs, the package's postinst has just started and
		# enabled its own nginx on port 80, which nothing here uses.
		if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
			systemctl disable --now nginx.service >/dev/null 2>&1 || true
		fi
		nginx=$(system_command nginx)
		[[ -n $nginx ]] || die "hls-tools: nginx installed, but no \`nginx\` on PATH or in /usr/sbin"
	fi
	nginx_ready "$nginx"
	ffmpeg=$(system_command ffmpeg)
	if [[ -z $ffmpeg ]]; then
		debian_install hls-tools ffmpeg "\`ffmpeg\` on PATH" "install ffmpeg"
		ffmpeg=$(system_command ffmpeg)
		[[ -n $ffmpeg ]] || die "hls-tools: ffmpeg installed, but no \`ffmpeg\` on PATH"
	fi
	ffmpeg_ready "$ffmpeg"
}

main "$@"
