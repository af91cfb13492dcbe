{{/*
Names and labels: the standard helpers.
*/}}
{{- define "creditgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "creditgate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "creditgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "creditgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "creditgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "creditgate.labels" -}}
helm.sh/chart: {{ include "creditgate.chart" . }}
{{ include "creditgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: creditgate
{{- end }}

{{- define "creditgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "creditgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "creditgate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "creditgate.secretName" -}}
{{- default (include "creditgate.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "creditgate.redisName" -}}
{{- printf "%s-redis" (include "creditgate.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Where things are mounted in the container. The Secret is not nested under the
ConfigMap's read-only mount (a runtime cannot create a mount point inside it).
*/}}
{{- define "creditgate.configDir" -}}/etc/creditgate{{- end }}
{{- define "creditgate.secretDir" -}}/run/secrets/creditgate{{- end }}
{{- define "creditgate.redisTLSDir" -}}/run/secrets/creditgate-redis-tls{{- end }}
{{- define "creditgate.dataDir" -}}/var/lib/creditgate{{- end }}

{{/*
creditgate.routeUsesAPI: "true" when a route reads the Stripe API (its sources or
invoice.paid), as config.Route.UsesAPI says; such a route needs stripe-api-key.<route>.
*/}}
{{- define "creditgate.routeUsesAPI" -}}
{{- $api := list "subscription.metadata.user_id" "customer.metadata.user_id" "price_table" "price_metadata" }}
{{- $x := get . "extract" | default dict }}
{{- $uses := false }}
{{- range concat (get $x "user_id" | default list) (get $x "credits" | default list) }}{{ if has . $api }}{{ $uses = true }}{{ end }}{{ end }}
{{- if has "invoice.paid" (get . "events" | default list) }}{{ $uses = true }}{{ end }}
{{- if $uses }}true{{ end }}
{{- end }}

{{/*
creditgate.reconciledRoutes: the names of the routes the reconcile CronJob runs for,
one per line ("" when it is off): reconcile.routes, or every route.
*/}}
{{- define "creditgate.reconciledRoutes" -}}
{{- if and .Values.reconcile.enabled (eq .Values.mode "ingress") }}
{{- range .Values.routes }}
{{- if or (not $.Values.reconcile.routes) (has .name $.Values.reconcile.routes) }}
{{ .name }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
creditgate.routeNeedsAPIKey: "true" when the route reads the Stripe API or is
reconciled or audited (call with (list $ route)).
*/}}
{{- define "creditgate.routeNeedsAPIKey" -}}
{{- $ := index . 0 }}
{{- $r := index . 1 }}
{{- if or (include "creditgate.routeUsesAPI" $r) (has $r.name (splitList "\n" (include "creditgate.reconciledRoutes" $))) (has $r.name (splitList "\n" (include "creditgate.auditedRoutes" $))) }}true{{ end }}
{{- end }}

{{- define "creditgate.reconcileSelectorLabels" -}}
app.kubernetes.io/name: {{ include "creditgate.name" . }}-reconcile
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The reconcile Jobs' pods carry their own name label: the Service, the PDB and the
NetworkPolicy of the webhook pods must never select them.
*/}}
{{- define "creditgate.reconcileLabels" -}}
helm.sh/chart: {{ include "creditgate.chart" . }}
{{ include "creditgate.reconcileSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: creditgate
app.kubernetes.io/component: reconcile
{{- end }}

{{/*
creditgate.validate fails the render on combinations the schema cannot express.
*/}}
{{- define "creditgate.validate" -}}
{{- if and (eq .Values.redis.mode "none") (eq .Values.mode "ingress") (or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled) }}
{{- fail "redis.mode=none (the in-memory store) runs one replica only: set replicaCount=1 and autoscaling.enabled=false, or use redis.mode=external" }}
{{- end }}
{{- if and (eq .Values.redis.mode "inChart") (eq .Values.mode "sidecar") }}
{{- fail "redis.mode=inChart is a trial Redis for the ingress mode; in sidecar mode use redis.mode=external" }}
{{- end }}
{{- if not .Values.secrets.existingSecret }}
{{- range .Values.routes }}
{{- $s := get ($.Values.secrets.routes | default dict) .name | default dict }}
{{- if not (get $s "stripeSigningSecrets") }}
{{- fail (printf "route %q needs secrets.routes.%s.stripeSigningSecrets (or secrets.existingSecret)" .name .name) }}
{{- end }}
{{- if not (get $s "forwardSigningKeys") }}
{{- fail (printf "route %q needs secrets.routes.%s.forwardSigningKeys (or secrets.existingSecret)" .name .name) }}
{{- end }}
{{- if and (include "creditgate.routeUsesAPI" .) (not (get $s "stripeApiKey")) }}
{{- fail (printf "route %q reads the Stripe API (its sources or invoice.paid): it needs secrets.routes.%s.stripeApiKey (or secrets.existingSecret with stripe-api-key.%s)" .name .name .name) }}
{{- end }}
{{- if and (include "creditgate.routeNeedsAPIKey" (list $ .)) (not (get $s "stripeApiKey")) }}
{{- fail (printf "route %q is reconciled (reconcile.enabled) or audited (audit.enabled): it needs secrets.routes.%s.stripeApiKey to read the Stripe API (or secrets.existingSecret with stripe-api-key.%s)" .name .name .name) }}
{{- end }}
{{- end }}
{{- range $name, $_ := .Values.secrets.routes }}
{{- $found := false }}
{{- range $.Values.routes }}{{ if eq .name $name }}{{ $found = true }}{{ end }}{{ end }}
{{- if not $found }}
{{- fail (printf "secrets.routes.%s names no route in routes" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.reconcile.enabled (eq .Values.mode "ingress") }}
{{- if eq .Values.redis.mode "none" }}
{{- fail "reconcile.enabled needs Redis: with redis.mode=none the dedup markers live in the pod's memory, where a reconcile Job cannot see them" }}
{{- end }}
{{- range .Values.reconcile.routes }}
{{- $name := . }}
{{- $found := false }}
{{- range $.Values.routes }}{{ if eq .name $name }}{{ $found = true }}{{ end }}{{ end }}
{{- if not $found }}
{{- fail (printf "reconcile.routes names %q, which is not in routes" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (eq .Values.redis.mode "external") (not .Values.secrets.existingSecret) (not .Values.secrets.redisUrl) }}
{{- fail "redis.mode=external needs secrets.redisUrl (or secrets.existingSecret with a redis-url key)" }}
{{- end }}
{{- end }}

{{/*
creditgate.config renders config.yaml: creditgate's own settings from values, every
secret referenced as a mounted file (*_file), never inlined.
*/}}
{{- define "creditgate.config" -}}
{{- $secretDir := include "creditgate.secretDir" . -}}
{{- $redis := dict "key_prefix" .Values.redis.keyPrefix -}}
{{- if eq .Values.redis.mode "external" }}
{{- $_ := set $redis "url_file" (printf "%s/redis-url" $secretDir) }}
{{- if or .Values.secrets.redisPassword .Values.redis.passwordFromSecret }}
{{- $_ := set $redis "password_file" (printf "%s/redis-password" $secretDir) }}
{{- end }}
{{- if .Values.redis.username }}{{ $_ := set $redis "username" .Values.redis.username }}{{ end }}
{{- if .Values.redis.db }}{{ $_ := set $redis "db" (int .Values.redis.db) }}{{ end }}
{{- $tls := dict }}
{{- if .Values.redis.tls.caSecret }}
{{- $_ := set $tls "ca_file" (printf "%s/ca.crt" (include "creditgate.redisTLSDir" .)) }}
{{- if .Values.redis.tls.clientCertificate }}
{{- $_ := set $tls "cert_file" (printf "%s/tls.crt" (include "creditgate.redisTLSDir" .)) }}
{{- $_ := set $tls "key_file" (printf "%s/tls.key" (include "creditgate.redisTLSDir" .)) }}
{{- end }}
{{- end }}
{{- if .Values.redis.tls.serverName }}{{ $_ := set $tls "server_name" .Values.redis.tls.serverName }}{{ end }}
{{- if $tls }}{{ $_ := set $redis "tls" $tls }}{{ end }}
{{- else if eq .Values.redis.mode "inChart" }}
{{- $_ := set $redis "url" (printf "redis://%s:6379/0" (include "creditgate.redisName" .)) }}
{{- end }}
{{- $routes := list }}
{{- range .Values.routes }}
{{- $r := deepCopy . }}
{{- $stripe := get $r "stripe" | default dict }}
{{- $_ := set $stripe "signing_secrets_file" (printf "%s/stripe-signing-secrets.%s" $secretDir .name) }}
{{- if include "creditgate.routeNeedsAPIKey" (list $ .) }}
{{- $_ := set $stripe "api_key_file" (printf "%s/stripe-api-key.%s" $secretDir .name) }}
{{- end }}
{{- $_ := set $r "stripe" $stripe }}
{{- $forward := get $r "forward" | default dict }}
{{- $_ := set $forward "signing_keys_file" (printf "%s/forward-signing-keys.%s" $secretDir .name) }}
{{- $_ := set $r "forward" $forward }}
{{- $routes = append $routes $r }}
{{- end }}
{{- $cfg := dict
  "listen" ":8080"
  "admin_listen" ":9090"
  "log_level" .Values.config.logLevel
  "max_body_bytes" (int64 .Values.config.maxBodyBytes)
  "shutdown_timeout" .Values.config.shutdownTimeout
  "redis" $redis
  "dedup" (dict "ttl" .Values.config.dedup.ttl "lease" .Values.config.dedup.lease)
  "routes" $routes
}}
{{- with .Values.config.watch }}{{ $_ := set $cfg "watch" . }}{{ end }}
{{- if eq .Values.redis.mode "none" }}
{{- $_ := set $cfg "dead_letter" (dict "file" (printf "%s/dead-letters.jsonl" (include "creditgate.dataDir" .))) }}
{{- end -}}
# Rendered by the creditgate chart from its values; docs/config.md has every key.
# Secrets are files under {{ $secretDir }} (the *_file keys), never inlined here.
{{ toYaml $cfg }}
{{- end }}

{{/*
creditgate.secretData: the chart-made Secret's data (base64), one file per key.
*/}}
{{- define "creditgate.secretData" -}}
{{- range .Values.routes }}
{{- $s := get ($.Values.secrets.routes | default dict) .name | default dict }}
stripe-signing-secrets.{{ .name }}: {{ printf "%s\n" (join "\n" (get $s "stripeSigningSecrets")) | b64enc | quote }}
forward-signing-keys.{{ .name }}: {{ printf "%s\n" (join "\n" (get $s "forwardSigningKeys")) | b64enc | quote }}
{{- if get $s "stripeApiKey" }}
stripe-api-key.{{ .name }}: {{ printf "%s\n" (get $s "stripeApiKey") | b64enc | quote }}
{{- end }}
{{- end }}
{{- if and (eq .Values.redis.mode "external") .Values.secrets.redisUrl }}
redis-url: {{ printf "%s\n" .Values.secrets.redisUrl | b64enc | quote }}
{{- end }}
{{- if and (eq .Values.redis.mode "external") .Values.secrets.redisPassword }}
redis-password: {{ printf "%s\n" .Values.secrets.redisPassword | b64enc | quote }}
{{- end }}
{{- end }}

{{/*
creditgate.checksums: the pod annotations that roll the pods when what they read
changes. With config.hotReload, creditgate reloads routes, secrets and keys from the
mounted files itself, so only the settings it reads once at start (listeners and their
connection limits, the in-flight body budget, Redis and its secrets, dedup, the
dead-letter file, the shutdown grace, the Stripe watch) are hashed, in
checksum/restart. Without it, the whole config and the chart-made Secret are.
*/}}
{{- define "creditgate.checksums" -}}
{{- if .Values.config.hotReload }}
{{- $cfg := include "creditgate.config" . | fromYaml }}
{{- $restart := pick $cfg "listen" "admin_listen" "shutdown_timeout" "redis" "dedup" "dead_letter" "max_connections" "admin_max_connections" "max_inflight_body_bytes" "watch" }}
{{- if not .Values.secrets.existingSecret }}
{{- $_ := set $restart "secrets" (list .Values.secrets.redisUrl .Values.secrets.redisPassword) }}
{{- end }}
checksum/restart: {{ toYaml $restart | sha256sum }}
{{- else }}
checksum/config: {{ include "creditgate.config" . | sha256sum }}
{{- if not .Values.secrets.existingSecret }}
checksum/secret: {{ include "creditgate.secretData" . | sha256sum }}
{{- end }}
{{- end }}
{{- end }}

{{/*
creditgate.containers: the creditgate container, shared by the ingress mode's
Deployment and the sidecar mode. Call it with the creditgate chart's context.
*/}}
{{- define "creditgate.container" -}}
- name: creditgate
  image: {{ include "creditgate.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["serve", "--config", "{{ include "creditgate.configDir" . }}/config.yaml"]
  ports:
    - name: webhook
      containerPort: 8080
      protocol: TCP
    - name: admin
      containerPort: 9090
      protocol: TCP
  env:
    - name: GOMEMLIMIT
      valueFrom:
        resourceFieldRef:
          containerName: creditgate
          resource: limits.memory
    {{- with .Values.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.livenessProbe }}
  livenessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.readinessProbe }}
  readinessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.startupProbe }}
  startupProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.lifecycle }}
  lifecycle:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: creditgate-config
      mountPath: {{ include "creditgate.configDir" . }}
      readOnly: true
    - name: creditgate-secrets
      mountPath: {{ include "creditgate.secretDir" . }}
      readOnly: true
    {{- if and (eq .Values.redis.mode "external") .Values.redis.tls.caSecret }}
    - name: creditgate-redis-tls
      mountPath: {{ include "creditgate.redisTLSDir" . }}
      readOnly: true
    {{- end }}
    {{- if eq .Values.redis.mode "none" }}
    - name: creditgate-data
      mountPath: {{ include "creditgate.dataDir" . }}
    {{- end }}
{{- end }}

{{- define "creditgate.volumes" -}}
- name: creditgate-config
  configMap:
    name: {{ include "creditgate.fullname" . }}
- name: creditgate-secrets
  secret:
    secretName: {{ include "creditgate.secretName" . }}
    defaultMode: 0440
{{- if and (eq .Values.redis.mode "external") .Values.redis.tls.caSecret }}
- name: creditgate-redis-tls
  secret:
    secretName: {{ .Values.redis.tls.caSecret }}
    defaultMode: 0440
{{- end }}
{{- if eq .Values.redis.mode "none" }}
- name: creditgate-data
  {{- if .Values.deadLetter.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ include "creditgate.fullname" . }}-data
  {{- else }}
  emptyDir: {}
  {{- end }}
{{- end }}
{{- end }}

{{/*
Sidecar mode, for the backend's chart (docs/kubernetes.md has a complete example). With
creditgate as a dependency (alias creditgate, mode: sidecar):
  containers:
    - name: backend
      ...
    {{- include "creditgate.sidecar.containers" .Subcharts.creditgate | nindent 8 }}
  volumes:
    {{- include "creditgate.sidecar.volumes" .Subcharts.creditgate | nindent 8 }}
  and the pod's annotations:
    {{- include "creditgate.sidecar.podAnnotations" .Subcharts.creditgate | nindent 8 }}
*/}}
{{- define "creditgate.sidecar.containers" -}}
{{- include "creditgate.validate" . }}
{{- include "creditgate.container" . }}
{{- end }}

{{- define "creditgate.sidecar.volumes" -}}
{{- include "creditgate.volumes" . }}
{{- end }}

{{- define "creditgate.sidecar.podAnnotations" -}}
{{- include "creditgate.checksums" . }}
{{- end }}

{{/*
creditgate.egress: the egress rules of creditgate's pods (DNS, the backend, Redis,
the Stripe API when used, extraEgress). Call with (list $ forceStripeAPI).
*/}}
{{- define "creditgate.egress" -}}
{{- $ := index . 0 }}
{{- $forceStripe := index . 1 }}
{{- with $ }}
{{- $np := .Values.networkPolicy }}
    # Cluster DNS.
    - to:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: {{ $np.dns.namespace }}
          {{- with $np.dns.podLabels }}
          podSelector:
            matchLabels:
              {{- toYaml . | nindent 14 }}
          {{- end }}
      ports:
        - {port: 53, protocol: UDP}
        - {port: 53, protocol: TCP}
    # The backend's credit endpoint.
    - ports:
        {{- toYaml $np.backend.ports | nindent 8 }}
      {{- with $np.backend.to }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- if eq .Values.redis.mode "inChart" }}
    # The trial Redis of this release.
    - to:
        - podSelector:
            matchLabels:
              app.kubernetes.io/name: {{ include "creditgate.name" . }}-redis
              app.kubernetes.io/instance: {{ .Release.Name }}
      ports:
        - {port: 6379, protocol: TCP}
    {{- else if eq .Values.redis.mode "external" }}
    # The external Redis.
    - ports:
        {{- toYaml $np.redis.ports | nindent 8 }}
      {{- with $np.redis.to }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- if or $forceStripe $np.stripeApi.enabled (include "creditgate.anyRouteHasAPIKey" .) }}
    # The Stripe API (HTTPS): on when asked or when a route has an API key (its
    # sources, and the Stripe watch, read the API).
    - ports:
        - {port: 443, protocol: TCP}
      {{- with $np.stripeApi.cidrs }}
      to:
        {{- range . }}
        - ipBlock:
            cidr: {{ . }}
        {{- end }}
      {{- end }}
    {{- end }}
    {{- with $np.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
{{- end }}
