#!/usr/bin/env bash
# The local base image, localhost/ilmo-base:bookworm: Debian 12 (minbase) with
# its python3 (3.11) and ca-certificates, made from Debian's packages with
# mmdebstrap and imported into podman. It stands in for the official
# python:3.11-slim-bookworm image where no container registry is reachable.
#
#   deploy/image/base.sh     build it unless an image of the same recipe exists
#
# The recipe (the build function below, as bash prints it without comments,
# the suite, the packages and ILMO_DEBIAN_MIRROR) is hashed into the label
# org.ilmo.base.recipe: a changed recipe builds a new base, the same recipe
# reuses the one there is. Security updates come in when the recipe changes
# or when ILMO_BASE_REBUILD=1 forces a fresh one.
#
#   ILMO_DEBIAN_MIRROR  default http://deb.debian.org/debian (its -security
#                       sibling is derived from it)
#   ILMO_BASE_REBUILD   1: build even if an image of this recipe exists

set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

MIRROR=${ILMO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
# python3 is the interpreter the venv of the Containerfile links to
# (/usr/bin/python3.11); ca-certificates for TLS to the broker, database and
# SMTP servers. Nothing else: no pip, no compilers, no shell tools beyond minbase.
PACKAGES=python3,ca-certificates
RECIPE_LABEL=org.ilmo.base.recipe

recipe() {
	printf '%s\n' "$(declare -f build)" "$SUITE" "$PACKAGES" "$MIRROR" | sha256sum | cut -c1-16
}

recipe_of_existing() {
	ilmo_podman image inspect --format "{{index .Labels \"$RECIPE_LABEL\"}}" "$BASE_IMAGE_TAG" \
		2>/dev/null || true
}

build() {
	local log=$LOG_DIR/image-base.log tarball
	tarball=$(mktemp --tmpdir ilmo-base.XXXXXX.tar)
	# shellcheck disable=SC2064 # expand now: the path is local to this function
	trap "rm -f '$tarball'" EXIT
	note "building $BASE_IMAGE_TAG with mmdebstrap (log: $(rel "$log")) ..."
	# Documentation, man pages and locales other than C.UTF-8 are left out of
	# the filesystem; mmdebstrap itself removes apt's caches and lists.
	mmdebstrap --variant=minbase --include="$PACKAGES" --mode=root --format=tar \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		"$SUITE" "$tarball" \
		"deb $MIRROR $SUITE main" \
		"deb $MIRROR $SUITE-updates main" \
		"deb ${MIRROR%/debian}/debian-security $SUITE-security main" \
		>>"$log" 2>&1 || die "base: mmdebstrap failed; see $(rel "$log")"
	ilmo_podman import \
		--change "LABEL $RECIPE_LABEL=$RECIPE" \
		--change 'ENV LANG=C.UTF-8' \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'CMD ["python3"]' \
		--message "Debian $SUITE minbase with $PACKAGES (deploy/image/base.sh)" \
		"$tarball" "$BASE_IMAGE_TAG" >>"$log" 2>&1 ||
		die "base: podman import failed; see $(rel "$log")"
}

main() {
	local previous
	RECIPE=$(recipe)
	ensure_dirs
	command -v mmdebstrap >/dev/null || die "base: mmdebstrap is missing; run deploy/image/tools.sh"
	if [[ ${ILMO_BASE_REBUILD:-0} != 1 && $(recipe_of_existing) == "$RECIPE" ]]; then
		report base ready "$BASE_IMAGE_TAG (recipe $RECIPE)"
		return 0
	fi
	[[ $(id -u) -eq 0 ]] || die "base: mmdebstrap --mode=root needs root"
	previous=$(ilmo_podman image inspect --format '{{.Id}}' "$BASE_IMAGE_TAG" 2>/dev/null || true)
	build
	# The base this one replaced: removed once no image built on it is left.
	if [[ -n $previous ]]; then
		ilmo_podman rmi "$previous" >>"$LOG_DIR/image-base.log" 2>&1 || true
	fi
	report base built "$BASE_IMAGE_TAG (recipe $RECIPE)"
}

main "$@"
