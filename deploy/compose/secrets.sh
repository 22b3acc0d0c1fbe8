#!/usr/bin/env bash
# Generate every secret the compose stack reads (deploy/compose/compose.yaml),
# once, into deploy/compose/secrets/ (git-ignored; ILMO_COMPOSE_SECRETS_DIR
# moves it). Run it before the first `compose up`; running it again keeps what
# exists and adds only what is missing, so rotating one secret is: delete its
# file, run this again, recreate the containers that read it (README.md).
#
# What it writes, one value per file (compose mounts each as a file; the Ilmo
# services read /run/secrets/ILMO_<SETTING>, ilmo_shared.settings):
#   - a development certificate authority (ca.pem, ca.key) and for each
#     server a certificate named like its compose service, signed by it:
#     rabbitmq, mongodb, redis, keycloak, mailpit (<name>.pem, <name>.key;
#     mongodb-bundle.pem = certificate and key, as mongod takes them). The
#     names are in the certificates' subjectAltName, with localhost and
#     127.0.0.1 for the published ports and the healthchecks;
#   - random keys and passwords (43 URL-safe characters): the manage-link and
#     stream-link keys, each service's broker and database password, Redis's,
#     the SMTP password, the OpenID Connect client secrets, the Keycloak and
#     Grafana administrators', and the development users' (organiser, viewer,
#     door, operator);
#   - what is made of them: each service's ILMO_AMQP_URL and ILMO_MONGODB_URL
#     (they carry its password), registration's ILMO_REDIS_URL, RabbitMQ's
#     definitions (its users and their permissions, from the one permission
#     table in ilmo_shared.messaging.users, passwords hashed), Redis's ACL
#     file and Mailpit's SMTP password file.
# Those derived files are rewritten at every run, from the values in place.
#
# The folder is readable by its owner only (0700); the files in it are 0644,
# because the containers' own users (RabbitMQ's, MongoDB's, Ilmo's) must read
# them through the bind mounts compose makes, whatever user runs compose.
#
# Needs openssl, and the project's Python (uv, `make setup`) for the broker
# definitions.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/../local/lib.sh"

COMPOSE_DIR=$REPO_ROOT/deploy/compose
SECRETS_DIR=${ILMO_COMPOSE_SECRETS_DIR:-$COMPOSE_DIR/secrets}
SERVICES=(registration capacity notification streaming)
# Servers with a certificate: the compose service names clients reach them by.
SERVERS=(rabbitmq mongodb redis keycloak mailpit)
DEVELOPMENT_USERS=(organiser viewer door operator)
BROKER_ADMIN=ilmo-admin
CERTIFICATE_DAYS=825
CA_DAYS=3650

# A random secret of 43 URL-safe characters (256 bits): safe inside URLs,
# long enough for every Ilmo key (ilmo_shared.settings.MIN_SECRET_LENGTH).
random_secret() {
	openssl rand -base64 32 | tr '+/' '-_' | tr -d '=\n'
}

# write_file NAME: stdin into NAME atomically, mode 0644 (see above).
write_file() {
	local target=$SECRETS_DIR/$1
	cat >"$target.tmp"
	chmod 0644 "$target.tmp"
	mv "$target.tmp" "$target"
}

# generate NAME: a random secret into NAME unless it holds one already.
generate() {
	if [[ ! -s $SECRETS_DIR/$1 ]]; then
		random_secret | write_file "$1"
		GENERATED+=("$1")
	fi
}

value_of() {
	cat "$SECRETS_DIR/$1"
}

# ---------------------------------------------------------------- certificates

# A ca.pem already there is kept, with or without its key: bring your own CA
# by putting its certificate there, with your servers' certificates (README.md).
certificate_authority() {
	if [[ -s $SECRETS_DIR/ca.pem ]]; then
		return 0
	fi
	new_ca "$SECRETS_DIR/ca.key" "$SECRETS_DIR/ca.pem" "Ilmo compose development CA" "$CA_DAYS" \
		2>/dev/null || die "openssl could not create the development CA"
	# The CA's key signs nothing inside a container: only its owner reads it.
	chmod 0600 "$SECRETS_DIR/ca.key"
	chmod 0644 "$SECRETS_DIR/ca.pem"
	GENERATED+=(ca.pem)
}

# server_certificate NAME: NAME.pem and NAME.key signed by the CA, for the
# DNS name NAME (the compose service), localhost and 127.0.0.1; kept if it
# exists and the CA in place still verifies it.
server_certificate() {
	local name=$1
	if [[ -s $SECRETS_DIR/$name.pem && -s $SECRETS_DIR/$name.key ]] &&
		openssl verify -CAfile "$SECRETS_DIR/ca.pem" "$SECRETS_DIR/$name.pem" >/dev/null 2>&1; then
		return 0
	fi
	[[ -s $SECRETS_DIR/ca.key ]] ||
		die "$(rel "$SECRETS_DIR/$name.pem") is missing or not signed by ca.pem, and there is no ca.key to sign one: put $name.pem and $name.key from your CA there"
	# clientAuth too: mongod presents its own certificate when it connects to
	# itself as a replica set member.
	new_server_certificate "$SECRETS_DIR/ca.pem" "$SECRETS_DIR/ca.key" \
		"$SECRETS_DIR/$name.key" "$SECRETS_DIR/$name.pem" "$name" "$CERTIFICATE_DAYS" \
		serverAuth,clientAuth "DNS:$name,DNS:localhost,IP:127.0.0.1" 2>/dev/null ||
		die "openssl could not create the certificate of $name"
	chmod 0644 "$SECRETS_DIR/$name.pem" "$SECRETS_DIR/$name.key"
	GENERATED+=("$name.pem")
}

# ---------------------------------------------------------------- derived files

broker_definitions() {
	local passwords python
	# The definitions command reads each user's password from a file named
	# like the user; compose mounts the broker-password-* files.
	passwords=$(mktemp -d)
	cp "$SECRETS_DIR/broker-password-admin" "$passwords/$BROKER_ADMIN"
	for name in "${SERVICES[@]}"; do
		cp "$SECRETS_DIR/broker-password-$name" "$passwords/ilmo-$name"
	done
	python=$REPO_ROOT/.venv/bin/python
	if [[ ! -x $python ]]; then
		command -v uv >/dev/null || {
			rm -rf "$passwords"
			die "neither $(rel "$python") nor uv: run make setup first"
		}
		python=(uv run --frozen --project "$REPO_ROOT" python)
	fi
	# Service users keep their default names here (ilmo-<service>): the
	# compose file sets no ILMO_<SERVICE>_BROKER_USER.
	if ! env -u ILMO_REGISTRATION_BROKER_USER -u ILMO_CAPACITY_BROKER_USER \
		-u ILMO_NOTIFICATION_BROKER_USER -u ILMO_STREAMING_BROKER_USER \
		"${python[@]}" -m ilmo_shared.messaging.definitions \
		--passwords "$passwords" --admin-user "$BROKER_ADMIN" | write_file rabbitmq-definitions.json; then
		rm -rf "$passwords"
		die "could not write the broker definitions"
	fi
	rm -rf "$passwords"
}

derived_files() {
	local name
	for name in "${SERVICES[@]}"; do
		printf 'amqps://ilmo-%s:%s@rabbitmq:5671/' "$name" "$(value_of "broker-password-$name")" |
			write_file "amqp-url-$name"
		# Each service's own user on its own database (deploy/compose/mongodb/init.js).
		printf 'mongodb://ilmo_%s:%s@mongodb:27017/ilmo_%s?authSource=ilmo_%s&replicaSet=rs0&tls=true' \
			"$name" "$(value_of "mongodb-password-$name")" "$name" "$name" |
			write_file "mongodb-url-$name"
	done
	printf 'rediss://ilmo-registration:%s@redis:6379/0' "$(value_of redis-password-registration)" |
		write_file redis-url-registration
	# Redis: no anonymous use beyond PING (the healthcheck); registration's
	# user may not reconfigure the server or run its dangerous commands.
	{
		printf 'user default on nopass resetchannels -@all +ping\n'
		printf 'user ilmo-registration on >%s ~* resetchannels +@all -@admin -@dangerous\n' \
			"$(value_of redis-password-registration)"
	} | write_file redis-users.acl
	printf 'ilmo:%s\n' "$(value_of smtp-password)" | write_file mailpit-smtp-auth
	cat "$SECRETS_DIR/mongodb.pem" "$SECRETS_DIR/mongodb.key" | write_file mongodb-bundle.pem
	broker_definitions
}

main() {
	command -v openssl >/dev/null || die "openssl is missing (apt-get install openssl)"
	mkdir -p "$SECRETS_DIR"
	chmod 0700 "$SECRETS_DIR"
	GENERATED=()
	certificate_authority
	for name in "${SERVERS[@]}"; do
		server_certificate "$name"
	done
	generate manage-link-secret
	generate stream-link-secret
	generate broker-password-admin
	generate mongodb-root-password
	# MongoDB's replica-set key file: base64 characters only (no - or _), 6 to 1024.
	if [[ ! -s $SECRETS_DIR/mongodb-keyfile ]]; then
		openssl rand -base64 756 | tr -d '\n' | write_file mongodb-keyfile
		GENERATED+=(mongodb-keyfile)
	fi
	generate redis-password-registration
	generate smtp-password
	generate oidc-client-secret
	generate prometheus-client-secret
	generate keycloak-admin-password
	generate grafana-admin-password
	for name in "${SERVICES[@]}"; do
		generate "broker-password-$name"
		generate "mongodb-password-$name"
	done
	for name in "${DEVELOPMENT_USERS[@]}"; do
		generate "user-password-$name"
	done
	derived_files
	if ((${#GENERATED[@]})); then
		report secrets new "${GENERATED[*]}"
	fi
	report secrets ready "$(rel "$SECRETS_DIR")"
}

main "$@"
