#!/usr/bin/env bash
# Build Ilmo's image from the repository's Containerfile with podman.
#
#   deploy/image/build.sh     build (or reuse the layers of) localhost/ilmo:dev
#
# By default on the local base localhost/ilmo-base:bookworm (deploy/image/base.sh,
# made first if missing), because no container registry is reachable here.
#
#   ILMO_BASE_IMAGE     another base, e.g. docker.io/library/python:3.11-slim-bookworm
#                       (then base.sh is not run and podman pulls it if missing)
#   ILMO_IMAGE          the tag to build (default localhost/ilmo:dev)
#   ILMO_BUILD_CA_FILE  a CA bundle handed to the build's downloads as the build
#                       secret `ca_bundle` (default /etc/ssl/certs/ca-certificates.crt
#                       if it exists; "" hands in none). Never stored in a layer.
#
# Labels: version from pyproject.toml, revision from git (with -dirty for
# uncommitted changes), created = the commit's time, so that rebuilding a
# commit reuses every layer. --format docker keeps the HEALTHCHECK.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

DEFAULT_CA_FILE=/etc/ssl/certs/ca-certificates.crt

project_version() {
	python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' \
		"$REPO_ROOT/pyproject.toml"
}

revision() {
	local commit
	commit=$(git -C "$REPO_ROOT" rev-parse HEAD 2>/dev/null) || {
		printf unknown
		return 0
	}
	if [[ -n $(git -C "$REPO_ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
		commit+=-dirty
	fi
	printf '%s' "$commit"
}

created() {
	git -C "$REPO_ROOT" log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null ||
		date -u +%Y-%m-%dT%H:%M:%SZ
}

image_id() {
	ilmo_podman image inspect --format '{{.Id}}' "$1" 2>/dev/null || true
}

main() {
	local base=${ILMO_BASE_IMAGE:-} ca_file=${ILMO_BUILD_CA_FILE-$DEFAULT_CA_FILE}
	local log=$LOG_DIR/image-build.log previous started seconds
	local -a options=()
	ensure_dirs
	command -v podman >/dev/null || die "image: podman is missing; run deploy/image/tools.sh"
	take_lock
	if [[ -z $base ]]; then
		"$IMAGE_DIR/base.sh"
		base=$BASE_IMAGE_TAG
		# Never ask a registry for the local base.
		options+=(--pull=never)
	fi
	if [[ -n $ca_file ]]; then
		[[ -r $ca_file ]] || die "image: ILMO_BUILD_CA_FILE=$ca_file is not readable"
		options+=(--secret "id=ca_bundle,src=$ca_file")
	fi
	previous=$(image_id "$IMAGE")
	started=$SECONDS
	note "building $IMAGE on $base (log: $(rel "$log")) ..."
	printf '\n==== %s: building %s on %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$IMAGE" "$base" >>"$log"
	TZ=UTC ilmo_podman build \
		--format docker \
		--layers \
		--network host \
		--file "$REPO_ROOT/Containerfile" \
		--tag "$IMAGE" \
		--build-arg "BASE_IMAGE=$base" \
		--build-arg "VERSION=$(project_version)" \
		--build-arg "REVISION=$(revision)" \
		--build-arg "CREATED=$(TZ=UTC created)" \
		"${options[@]}" \
		"$REPO_ROOT" >>"$log" 2>&1 || die "image: podman build failed; see $(rel "$log")"
	seconds=$((SECONDS - started))
	# The image this build replaced under the tag: removed unless a container
	# still uses it (its layers that the new image shares stay).
	if [[ -n $previous && $previous != "$(image_id "$IMAGE")" ]]; then
		ilmo_podman rmi "$previous" >>"$log" 2>&1 || true
	fi
	report image built "$IMAGE ($(ilmo_podman image inspect --format '{{.Size}}' "$IMAGE" |
		numfmt --to=si)B, ${seconds}s)"
}

main "$@"
