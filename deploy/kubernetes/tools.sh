#!/usr/bin/env bash
# Installs the tools that check the Helm chart offline: helm and kubeconform,
# pinned, built from their Go modules into .tools/bin (no release binary can be
# downloaded here). Idempotent: a tool whose binary already records the pinned
# module version is left alone. Building helm takes a few minutes, once.
#
# Usage: deploy/kubernetes/tools.sh
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/../local/lib.sh"

# Pinned versions; bump them here.
HELM_MODULE=helm.sh/helm/v3
HELM_VERSION=v3.21.4
KUBECONFORM_MODULE=github.com/yannh/kubeconform
KUBECONFORM_VERSION=v0.7.0

# installed_version BINARY MODULE: the version of MODULE that BINARY was built
# from, as the Go toolchain recorded it (`go version -m`), or nothing. The
# tools' own version output comes from release ldflags that `go install` does
# not set (kubeconform says "development", helm only "v3.21").
installed_version() {
	local binary=$1 module=$2
	[[ -x $binary ]] || return 0
	go version -m "$binary" 2>/dev/null | awk -v m="$module" '$1 == "mod" && $2 == m { print $3 }'
}

# go_tool NAME MODULE VERSION PACKAGE
go_tool() {
	local name=$1 module=$2 version=$3 package=$4 log have
	log=$LOG_DIR/$name-install.log
	have=$(installed_version "$TOOLS_BIN/$name" "$module")
	if [[ $have == "$version" ]]; then
		report "$name" ok "$version ($(rel "$TOOLS_BIN/$name"))"
		return 0
	fi
	command -v go >/dev/null ||
		die "$name: Go is needed to build $module@$version; install Go (https://go.dev/dl/)"
	note "building $module@$version (a few minutes; log: $(rel "$log")) ..."
	mkdir -p "$TOOLS_BIN"
	# GOFLAGS=-mod=mod: `go install pkg@version` builds from the module's own
	# go.mod; a -mod=vendor from the environment would refuse it.
	GOBIN=$TOOLS_BIN GOFLAGS=-mod=mod go install -trimpath "$package@$version" >>"$log" 2>&1 ||
		die "$name: go install $package@$version failed; see $(rel "$log")"
	have=$(installed_version "$TOOLS_BIN/$name" "$module")
	[[ $have == "$version" ]] || die "$name: built, but $(rel "$TOOLS_BIN/$name") reports ${have:-no} version"
	report "$name" built "$version ($(rel "$TOOLS_BIN/$name"))"
}

main() {
	ensure_dirs
	take_lock
	go_tool helm "$HELM_MODULE" "$HELM_VERSION" "$HELM_MODULE/cmd/helm"
	go_tool kubeconform "$KUBECONFORM_MODULE" "$KUBECONFORM_VERSION" "$KUBECONFORM_MODULE/cmd/kubeconform"
}

main "$@"
