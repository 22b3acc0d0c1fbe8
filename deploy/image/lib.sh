# Shared by the deploy/image scripts: deploy/local/lib.sh's helpers, and podman
# run with the project's settings. Sourced, not run.
# shellcheck shell=bash
# shellcheck disable=SC2034 # variables here are used by the scripts that source this file

# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/../local/lib.sh"

IMAGE_DIR=$REPO_ROOT/deploy/image
# podman's settings for these machines (runc, cgroupfs, no ulimits, host
# network): read through CONTAINERS_CONF by the scripts and tests only, never
# written into /etc and never part of an image.
CONTAINERS_CONF_FILE=$IMAGE_DIR/containers.conf
# The image the scripts build, and the base they build it on.
IMAGE=${ILMO_IMAGE:-localhost/ilmo:dev}
BASE_IMAGE_TAG=localhost/ilmo-base:bookworm

# podman with the project's settings.
ilmo_podman() {
	CONTAINERS_CONF=$CONTAINERS_CONF_FILE podman "$@"
}
