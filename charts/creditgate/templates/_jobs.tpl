{{/*
creditgate.cronJob: one CronJob that runs `creditgate <args>` for a route on a
schedule, in the pods of the chart's Jobs (reconcile and audit share their labels,
so one NetworkPolicy covers both). Call with
(dict "root" $ "job" "reconcile" "route" "main" "values" .Values.reconcile "args" (list ...)).
*/}}
{{- define "creditgate.cronJob" -}}
{{- $ := .root }}
{{- $job := .job }}
{{- $route := .route }}
{{- $rc := .values }}
{{- $args := .args }}
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {{ printf "%s-%s-%s" (include "creditgate.fullname" $ | trunc 32 | trimSuffix "-") $job ($route | replace "_" "-") | trunc 52 | trimSuffix "-" }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "creditgate.reconcileLabels" $ | nindent 4 }}
spec:
  schedule: {{ $rc.schedule | quote }}
  {{- with $rc.timeZone }}
  timeZone: {{ . | quote }}
  {{- end }}
  # Runs never overlap: the next one waits for the last to end.
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: 600
  successfulJobsHistoryLimit: {{ $rc.successfulJobsHistoryLimit }}
  failedJobsHistoryLimit: {{ $rc.failedJobsHistoryLimit }}
  jobTemplate:
    metadata:
      labels:
        {{- include "creditgate.reconcileLabels" $ | nindent 8 }}
    spec:
      # A failed run is not retried at once: the next scheduled run covers the same
      # window (since) again.
      backoffLimit: 0
      activeDeadlineSeconds: {{ $rc.activeDeadlineSeconds }}
      template:
        metadata:
          annotations:
            {{- include "creditgate.checksums" $ | nindent 12 }}
          labels:
            {{- include "creditgate.reconcileLabels" $ | nindent 12 }}
        spec:
          restartPolicy: Never
          serviceAccountName: {{ include "creditgate.serviceAccountName" $ }}
          automountServiceAccountToken: false
          enableServiceLinks: false
          {{- with $.Values.imagePullSecrets }}
          imagePullSecrets:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            {{- toYaml $.Values.podSecurityContext | nindent 12 }}
          containers:
            - name: {{ $job }}
              image: {{ include "creditgate.image" $ | quote }}
              imagePullPolicy: {{ $.Values.image.pullPolicy }}
              args: {{ $args | toJson }}
              env:
                - name: GOMEMLIMIT
                  valueFrom:
                    resourceFieldRef:
                      containerName: {{ $job }}
                      resource: limits.memory
                {{- with $.Values.extraEnv }}
                {{- toYaml . | nindent 16 }}
                {{- end }}
              resources:
                {{- toYaml $rc.resources | nindent 16 }}
              securityContext:
                {{- toYaml $.Values.securityContext | nindent 16 }}
              volumeMounts:
                - name: creditgate-config
                  mountPath: {{ include "creditgate.configDir" $ }}
                  readOnly: true
                - name: creditgate-secrets
                  mountPath: {{ include "creditgate.secretDir" $ }}
                  readOnly: true
                {{- if and (eq $.Values.redis.mode "external") $.Values.redis.tls.caSecret }}
                - name: creditgate-redis-tls
                  mountPath: {{ include "creditgate.redisTLSDir" $ }}
                  readOnly: true
                {{- end }}
          volumes:
            {{- include "creditgate.volumes" $ | nindent 12 }}
          {{- with $.Values.nodeSelector }}
          nodeSelector:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $.Values.affinity }}
          affinity:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $.Values.tolerations }}
          tolerations:
            {{- toYaml . | nindent 12 }}
          {{- end }}
{{- end }}

{{/*
creditgate.auditedRoutes: the names of the routes the audit CronJob runs for, one per
line ("" when it is off): audit.routes, or every route.
*/}}
{{- define "creditgate.auditedRoutes" -}}
{{- if and .Values.audit.enabled (eq .Values.mode "ingress") }}
{{- range .Values.routes }}
{{- if or (not $.Values.audit.routes) (has .name $.Values.audit.routes) }}
{{ .name }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
creditgate.validateAudit fails the render on an audit the chart cannot run.
*/}}
{{- define "creditgate.validateAudit" -}}
{{- if and .Values.audit.enabled (eq .Values.mode "ingress") }}
{{- if eq .Values.redis.mode "none" }}
{{- fail "audit.enabled needs Redis: with redis.mode=none creditgate's markers and records live in the pod's memory, where an audit Job cannot see them" }}
{{- end }}
{{- range .Values.audit.routes }}
{{- $name := . }}
{{- $found := false }}
{{- range $.Values.routes }}{{ if eq .name $name }}{{ $found = true }}{{ end }}{{ end }}
{{- if not $found }}
{{- fail (printf "audit.routes names %q, which is not in routes" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
creditgate.anyRouteHasAPIKey: non-empty when some route's config names an API key
(its sources, reconcile or audit need one); the webhook pods' Stripe watch then reads
the API too.
*/}}
{{- define "creditgate.anyRouteHasAPIKey" -}}
{{- range .Values.routes }}{{ include "creditgate.routeNeedsAPIKey" (list $ .) }}{{ end }}
{{- end }}
