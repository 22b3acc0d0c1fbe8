#!/usr/bin/env bash
# Entrypoint of the compose stack's Keycloak: Keycloak takes no secret from a
# file, so read each mounted secret into the environment variable its
# configuration (KC_BOOTSTRAP_ADMIN_PASSWORD) or the realm file's ${...}
# placeholders (ilmo-realm.json, imported on the first start) name, then run
# Keycloak with the compose command.
set -euo pipefail

read_secret() {
	local value
	value=$(<"/run/secrets/$1")
	printf '%s' "${value//[$'\r\n']/}"
}

KC_BOOTSTRAP_ADMIN_PASSWORD=$(read_secret keycloak-admin-password)
ILMO_OIDC_CLIENT_SECRET=$(read_secret oidc-client-secret)
ILMO_PROMETHEUS_CLIENT_SECRET=$(read_secret prometheus-client-secret)
ILMO_PASSWORD_ORGANISER=$(read_secret user-password-organiser)
ILMO_PASSWORD_VIEWER=$(read_secret user-password-viewer)
ILMO_PASSWORD_DOOR=$(read_secret user-password-door)
ILMO_PASSWORD_OPERATOR=$(read_secret user-password-operator)
export KC_BOOTSTRAP_ADMIN_PASSWORD ILMO_OIDC_CLIENT_SECRET ILMO_PROMETHEUS_CLIENT_SECRET \
	ILMO_PASSWORD_ORGANISER ILMO_PASSWORD_VIEWER ILMO_PASSWORD_DOOR ILMO_PASSWORD_OPERATOR

exec /opt/keycloak/bin/kc.sh "$@"
