{{/*
The creditgate pod: its checksum annotations, container and volumes, shared by the
ingress mode's Deployment and the sidecar mode. The other helpers live by concern:
_names.tpl, _labels.tpl, _config.tpl (config.yaml and the Secret's data),
_stripeapi.tpl (which routes use the Stripe API), _validate.tpl, _egress.tpl (the
NetworkPolicy's egress) and _jobs.tpl (the reconcile and audit CronJobs).
*/}}

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
{{- $restart := pick $cfg "listen" "admin_listen" "shutdown_timeout" "log_flush_interval" "redis" "dedup" "dead_letter" "max_connections" "admin_max_connections" "max_inflight_body_bytes" "watch" }}
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
creditgate.container: the creditgate container, shared by the ingress mode's
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
