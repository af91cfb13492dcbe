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
{{- if .Values.redis.waitReplicas }}
{{- $_ := set $redis "wait_replicas" (int .Values.redis.waitReplicas) }}
{{- $_ := set $redis "wait_timeout" .Values.redis.waitTimeout }}
{{- end }}
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
  "log_flush_interval" .Values.config.logFlushInterval
  "max_body_bytes" (int64 .Values.config.maxBodyBytes)
  "max_inflight_body_bytes" (int64 .Values.config.maxInflightBodyBytes)
  "max_connections" (int64 .Values.config.maxConnections)
  "admin_max_connections" (int64 .Values.config.adminMaxConnections)
  "shutdown_timeout" .Values.config.shutdownTimeout
  "redis" $redis
  "dedup" (dict "ttl" .Values.config.dedup.ttl "lease" .Values.config.dedup.lease "record_ttl" .Values.config.dedup.recordTtl "customer_ttl" .Values.config.dedup.customerTtl)
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
