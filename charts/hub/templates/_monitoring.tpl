{{/* Helpers of the live scorer and its monitoring objects (scorer.yaml, monitoring.yaml, dashboard.yaml). */}}

{{/* "true" when the scorer is rendered: scorer.enabled and a Prometheus to read features from. */}}
{{- define "hub.scorer.enabled" -}}
{{- if and .Values.scorer.enabled .Values.prometheus.url }}true{{ end -}}
{{- end -}}

{{/* Labels of a Prometheus Operator object: the chart's, then monitoring.labels. Call with (dict "root" $ "component" "x"). */}}
{{- define "hub.monitoring.labels" -}}
{{ include "hub.labels" . }}
{{- with .root.Values.monitoring.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Seconds for people: "1d", "6h", "90m" or "45s". */}}
{{- define "hub.monitoring.seconds" -}}
{{- $s := int . -}}
{{- if and $s (eq (mod $s 86400) 0) }}{{ div $s 86400 }}d
{{- else if and $s (eq (mod $s 3600) 0) }}{{ div $s 3600 }}h
{{- else if and $s (eq (mod $s 60) 0) }}{{ div $s 60 }}m
{{- else }}{{ $s }}s
{{- end -}}
{{- end -}}
