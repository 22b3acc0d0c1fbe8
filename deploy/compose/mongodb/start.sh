#!/usr/bin/env bash
# Entrypoint of the compose stack's MongoDB: mongod refuses a replica-set key
# file that anyone but its owner can read, and compose mounts secrets with the
# host file's owner and mode. Copy it with the owner and mode mongod demands,
# then run the image's own entrypoint with the compose command.
set -euo pipefail

install -m 0400 -o mongodb -g mongodb /run/secrets/mongodb-keyfile /data/configdb/keyfile
exec docker-entrypoint.sh "$@"
