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
