{{/*
Labels: the standard ones of the webhook pods and their objects, and the reconcile
and audit Jobs' own.
*/}}
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
