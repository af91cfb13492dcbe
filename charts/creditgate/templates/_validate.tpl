{{/*
creditgate.validate fails the render on combinations the schema cannot express.
*/}}
{{- define "creditgate.validate" -}}
{{- if and (eq .Values.redis.mode "none") (eq .Values.mode "ingress") (or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled) }}
{{- fail "redis.mode=none (the in-memory store) runs one replica only: set replicaCount=1 and autoscaling.enabled=false, or use redis.mode=external" }}
{{- end }}
{{- if eq .Values.redis.mode "none" }}
{{- range .Values.routes }}
{{- range .events | default list }}
{{- if or (hasPrefix "charge." .) (eq . "refund.updated") }}
{{- fail (printf "route lists %s, a reversal event: reversals need the purchase records to outlive a restart (refunds and disputes come months later), so they need Redis (redis.mode=external); the in-memory store loses them" .) }}
{{- end }}
{{- end }}
{{- end }}
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
