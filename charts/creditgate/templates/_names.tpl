{{/*
Names: of the release's objects, the image, the Secret, the trial Redis, and where
things are mounted in the container.
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
