{{/* The release's resource name prefix (the release name, or <release>-tooltrail). */}}
{{- define "tooltrail.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tooltrail.labels" -}}
app.kubernetes.io/part-of: tooltrail
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "name" "memory") */}}
{{- define "tooltrail.selector" -}}
app.kubernetes.io/name: {{ printf "tooltrail-%s" .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "tooltrail.image" -}}
{{ printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end -}}

{{/* The secrets every pod reads besides the ConfigMap. */}}
{{- define "tooltrail.secretEnv" -}}
{{- if .Values.kafka.passwordSecret.name }}
- name: TOOLTRAIL_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.passwordSecret.name }}
      key: {{ .Values.kafka.passwordSecret.key }}
{{- end }}
{{- if .Values.chroma.tokenSecret.name }}
- name: TOOLTRAIL_CHROMA_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.chroma.tokenSecret.name }}
      key: {{ .Values.chroma.tokenSecret.key }}
{{- end }}
{{- if .Values.enrichmentKeySecret.name }}
- name: TOOLTRAIL_ENRICHMENT_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.enrichmentKeySecret.name }}
      key: {{ .Values.enrichmentKeySecret.key }}
{{- end }}
{{- end -}}

{{/* Pod annotations: a settings change changes the template, so the pods roll. */}}
{{- define "tooltrail.podAnnotations" -}}
checksum/settings: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
prometheus.io/scrape: "true"
prometheus.io/port: "9100"
prometheus.io/path: /metrics
{{- end -}}

{{- define "tooltrail.reloader" -}}
{{- $names := list -}}
{{- with .Values.kafka.passwordSecret.name }}{{ $names = append $names . }}{{ end -}}
{{- with .Values.kafka.caSecret.name }}{{ $names = append $names . }}{{ end -}}
{{- with .Values.chroma.tokenSecret.name }}{{ $names = append $names . }}{{ end -}}
{{- with .Values.enrichmentKeySecret.name }}{{ $names = append $names . }}{{ end -}}
{{- with .Values.existingSecret }}{{ $names = append $names . }}{{ end -}}
{{- if and .Values.reloadOnSecretChange $names }}
secret.reloader.stakater.com/reload: {{ join "," $names | quote }}
{{- end -}}
{{- end -}}

{{- define "tooltrail.podSecurity" -}}
automountServiceAccountToken: false
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "tooltrail.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
{{- end -}}
