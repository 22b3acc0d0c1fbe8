{{/*
Names and labels shared by every template. One Deployment, Service, ConfigMap
and so on per Ilmo service: "<fullname>-<service>".
*/}}

{{/* The release's base name: the release name, with "-ilmo" unless it already says ilmo. */}}
{{- define "ilmo.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains "ilmo" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-ilmo" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object, but the instance (which selectors carry too). */}}
{{- define "ilmo.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: ilmo
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "ilmo.labels" -}}
{{ include "ilmo.commonLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Selector labels of one service's pods; call with (dict "root" $ "service" "capacity"). */}}
{{- define "ilmo.selectorLabels" -}}
app.kubernetes.io/name: ilmo
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .service }}
{{- end -}}

{{/* Labels of one service's objects; call with (dict "root" $ "service" "capacity"). */}}
{{- define "ilmo.serviceLabels" -}}
{{ include "ilmo.commonLabels" .root }}
{{ include "ilmo.selectorLabels" . }}
{{- end -}}

{{/* Selector of every Ilmo service pod of this release (the default-deny policy). */}}
{{- define "ilmo.allServicesSelector" -}}
app.kubernetes.io/name: ilmo
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The image reference: repository@digest when a digest is set, else repository:tag. */}}
{{- define "ilmo.image" -}}
{{- $image := .Values.image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The RabbitmqCluster's name (also its client Service's name). */}}
{{- define "ilmo.rabbitmqName" -}}
{{- printf "%s-rabbitmq" (include "ilmo.fullname" .) -}}
{{- end -}}

{{/* The MongoDBCommunity resource's name. */}}
{{- define "ilmo.mongodbName" -}}
{{- printf "%s-mongodb" (include "ilmo.fullname" .) -}}
{{- end -}}

{{/* A service's broker user name: values rabbitmq.users.<service>, else ilmo-<service>. */}}
{{- define "ilmo.brokerUser" -}}
{{- $users := .root.Values.rabbitmq.users | default dict -}}
{{- default (printf "ilmo-%s" .service) (get $users .service) -}}
{{- end -}}

{{/* Secret holding a service's ILMO_* secret settings (projected into ILMO_SECRETS_DIR). */}}
{{- define "ilmo.settingsSecret" -}}
{{- printf "%s-%s" (include "ilmo.fullname" .root) .service -}}
{{- end -}}

{{/* Secret holding a service's broker user name and password (imported by the User resource). */}}
{{- define "ilmo.brokerSecret" -}}
{{- printf "%s-%s-broker" (include "ilmo.fullname" .root) .service -}}
{{- end -}}

{{/* Secret holding a service's MongoDB password (read by the MongoDB operator). */}}
{{- define "ilmo.mongodbPasswordSecret" -}}
{{- printf "%s-%s-mongodb" (include "ilmo.fullname" .root) .service -}}
{{- end -}}

{{/* Secret the MongoDB operator writes a service's connection string into. */}}
{{- define "ilmo.mongodbConnectionSecret" -}}
{{- printf "%s-%s-mongodb-connection" (include "ilmo.fullname" .root) .service -}}
{{- end -}}

{{/* The Secret holding a server's CA certificate (key ca.crt); call with (dict "root" $ "server" "rabbitmq"). */}}
{{- define "ilmo.caSecret" -}}
{{- $tls := .root.Values.tls -}}
{{- if $tls.caSecretName -}}
{{- $tls.caSecretName -}}
{{- else if eq .server "rabbitmq" -}}
{{- printf "%s-tls" (include "ilmo.rabbitmqName" .root) -}}
{{- else -}}
{{- printf "%s-tls" (include "ilmo.mongodbName" .root) -}}
{{- end -}}
{{- end -}}

{{/* The AMQP node address the services use (the cluster's client Service). */}}
{{- define "ilmo.amqpHost" -}}
{{- printf "%s.%s.svc" (include "ilmo.rabbitmqName" .) .Release.Namespace -}}
{{- end -}}

{{/* The CA files a service trusts, as "setting": {secret, key, path}; call with (dict "root" $ "service" "registration"). */}}
{{- define "ilmo.caFiles" -}}
{{- $root := .root -}}
{{- $tls := $root.Values.tls -}}
{{- $files := dict -}}
{{- if or $root.Values.rabbitmq.enabled $tls.caSecretName -}}
{{- $_ := set $files "ILMO_AMQP_CA_FILE" (dict "secret" (include "ilmo.caSecret" (dict "root" $root "server" "rabbitmq")) "key" "ca.crt" "path" "rabbitmq-ca.crt") -}}
{{- end -}}
{{- if or $root.Values.mongodb.enabled $tls.caSecretName -}}
{{- $_ := set $files "ILMO_MONGODB_CA_FILE" (dict "secret" (include "ilmo.caSecret" (dict "root" $root "server" "mongodb")) "key" "ca.crt" "path" "mongodb-ca.crt") -}}
{{- end -}}
{{- if and (eq .service "registration") $tls.redisCa.secretName -}}
{{- $_ := set $files "ILMO_REDIS_CA_FILE" (dict "secret" $tls.redisCa.secretName "key" $tls.redisCa.key "path" "redis-ca.crt") -}}
{{- end -}}
{{- if and (eq .service "notification") $tls.smtpCa.secretName -}}
{{- $_ := set $files "ILMO_SMTP_CA_FILE" (dict "secret" $tls.smtpCa.secretName "key" $tls.smtpCa.key "path" "smtp-ca.crt") -}}
{{- end -}}
{{- toJson $files -}}
{{- end -}}
