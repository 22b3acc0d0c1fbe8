#!/usr/bin/env bash
# The browser of the browser tests and of `make screenshots`: Debian's chromium,
# driven by Playwright. Playwright cannot download its own browser builds on
# these machines, so the tests launch the Debian package instead.
#
#   deploy/local/browser.sh     install chromium if it is missing; print where it is
#
# ILMO_CHROMIUM names another Chromium executable to use instead (the tests
# read the same variable); it is checked, never installed over.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

PACKAGE=chromium

# The Chromium the tests will launch, or nothing.
chromium_found() {
	if [[ -n ${ILMO_CHROMIUM:-} ]]; then
		[[ -x $ILMO_CHROMIUM ]] && printf '%s' "$ILMO_CHROMIUM"
		return 0
	fi
	command -v "$PACKAGE" 2>/dev/null || true
}

main() {
	local found
	ensure_dirs
	found=$(chromium_found)
	if [[ -n $found ]]; then
		report browser ready "$found ($("$found" --version 2>/dev/null || echo 'version unknown'))"
		return 0
	fi
	[[ -z ${ILMO_CHROMIUM:-} ]] ||
		die "browser: ILMO_CHROMIUM=$ILMO_CHROMIUM is not an executable; correct it or unset it"
	debian_install browser "$PACKAGE" "\`$PACKAGE\` on PATH" \
		"set ILMO_CHROMIUM to a Chromium executable"
	found=$(chromium_found)
	[[ -n $found ]] || die "browser: $PACKAGE installed, but no \`$PACKAGE\` on PATH"
	report browser installed "$found"
}

main "$@"
