#!/usr/bin/env bash
# The Python dependencies' known vulnerabilities: pip-audit over the lock.
#
#   deploy/image/audit.sh     export the lock, audit it, report in .local/audit/
#
# The image installs exactly the lock (uv sync --frozen --no-dev), so the lock
# exported with its hashes is what is audited; Ilmo's own packages are left
# out (not on PyPI). pip-audit asks two vulnerability services, PyPI's JSON
# API and OSV; a package counts as audited when either has data on it.
# deploy/image/audit_report.py decides, and its first word is the verdict:
#
#   VULNERABLE   a known vulnerability: exit 1, with the list
#   NOT AUDITED  no service answered (these machines: PyPI's per-version API
#                answers 404, api.osv.dev is blocked): a loud report, exit 0;
#                exit 1 if ILMO_AUDIT_REQUIRE_DATA=1 (a connected CI)
#   AUDITED      every locked package, no known vulnerability: exit 0
#
# .local/audit/ keeps requirements.txt, each service's JSON report and log,
# and summary.txt.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

AUDIT_DIR=$LOCAL_DIR/audit
SERVICES=(pypi osv)
UV=${UV:-uv}

main() {
	local service
	local -a verdict_options=()
	ensure_dirs
	mkdir -p "$AUDIT_DIR"
	cd "$REPO_ROOT"
	"$UV" export --frozen --no-dev --all-packages --no-emit-workspace --format requirements-txt \
		--quiet --output-file "$AUDIT_DIR/requirements.txt" ||
		die "audit: uv export of the lock failed"
	for service in "${SERVICES[@]}"; do
		rm -f "$AUDIT_DIR/$service.json"
		# Its exit status says nothing the report does not (and 0 even when
		# nothing was audited): audit_report.py reads the report.
		"$UV" run --frozen pip-audit --require-hashes --disable-pip \
			--requirement "$AUDIT_DIR/requirements.txt" \
			--vulnerability-service "$service" --timeout 30 --progress-spinner off \
			--format json --output "$AUDIT_DIR/$service.json" \
			>"$AUDIT_DIR/$service.log" 2>&1 || true
	done
	[[ ${ILMO_AUDIT_REQUIRE_DATA:-0} != 1 ]] || verdict_options+=(--require-data)
	"$UV" run --frozen python "$IMAGE_DIR/audit_report.py" "$AUDIT_DIR" "${SERVICES[@]}" \
		"${verdict_options[@]}"
}

main "$@"
