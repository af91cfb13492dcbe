{{/*
Which routes use the Stripe API, and so need stripe-api-key.<route>.

creditgate.routeUsesAPI: "true" when a route reads the Stripe API (its sources or
invoice.paid), exactly as creditgate's internal/config Route.UsesAPI says
(charts/test/stripeapi_test.go checks every source and event type against it).
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
