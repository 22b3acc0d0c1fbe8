#!/usr/bin/env bash
# promtool, Prometheus's checker: the deployment tests (tests/deploy/) check
# every PromQL query of the Grafana dashboards and the alert rules with it. It
# comes with Debian's `prometheus` package, which is also the Prometheus that
# deploy/local/infra.sh runs (and installs through this script); nothing of
# the package is started here.
#
#   deploy/local/promtool.sh    install the package if promtool is missing; print where it is
#
# ILMO_PROMTOOL names another promtool executable to use instead (the tests
# read the same variable); it is checked, never installed over.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

PACKAGE=prometheus

# The promtool the tests will run, or nothing.
promtool_found() {
	if [[ -n ${ILMO_PROMTOOL:-} ]]; then
		[[ -x $ILMO_PROMTOOL ]] && printf '%s' "$ILMO_PROMTOOL"
		return 0
	fi
	command -v promtool 2>/dev/null || true
}

main() {
	local found
	ensure_dirs
	found=$(promtool_found)
	if [[ -n $found ]]; then
		report promtool ready "$found ($("$found" --version 2>&1 | head -n 1))"
		return 0
	fi
	[[ -z ${ILMO_PROMTOOL:-} ]] ||
		die "promtool: ILMO_PROMTOOL=$ILMO_PROMTOOL is not an executable; correct it or unset it"
	# Only promtool is wanted: where systemd runs, apt has just started and
	# enabled the package's own Prometheus, which nothing here uses.
	debian_install promtool "$PACKAGE" "\`promtool\` on PATH" \
		"set ILMO_PROMTOOL to a promtool executable"
	# Where systemd runs, the package's postinst has just enabled and started
	# its own Prometheus with /etc/prometheus's configuration on the port
	# infra.sh uses: that unit goes; infra.sh runs its own process.
	if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
		systemctl disable --now prometheus.service >/dev/null 2>&1 || true
	fi
	found=$(promtool_found)
	[[ -n $found ]] || die "promtool: $PACKAGE installed, but no \`promtool\` on PATH"
	report promtool installed "$found"
}

main "$@"
