{{/* The chart's name, for the app.kubernetes.io/name label. */}}
{{- define "smart-sre.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The name of every object: the release name, plus the chart's name unless it contains it. */}}
{{- define "smart-sre.fullname" -}}
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

{{- define "smart-sre.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "smart-sre.labels" -}}
helm.sh/chart: {{ include "smart-sre.chart" . }}
{{ include "smart-sre.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: smart-sre
{{- end }}

{{/* What selects this release's pod (with app.kubernetes.io/component: operator). */}}
{{- define "smart-sre.selectorLabels" -}}
app.kubernetes.io/name: {{ include "smart-sre.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "smart-sre.serviceAccountName" -}}
{{- default (include "smart-sre.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "smart-sre.sealKeySecret" -}}
{{- default (printf "%s-seal-key" (include "smart-sre.fullname" .)) .Values.sealKey.secretName }}
{{- end }}

{{- define "smart-sre.modelsClaim" -}}
{{- default (printf "%s-models" (include "smart-sre.fullname" .)) .Values.model.pvc.existingClaim }}
{{- end }}

{{/* Whether the pod runs the inference sidecar (mode sidecar) or calls an endpoint (mode endpoint). */}}
{{- define "smart-sre.sidecar" -}}
{{- if eq .Values.inference.mode "sidecar" }}true{{ end }}
{{- end }}

{{/* Whether the sidecar serves from inference.endpoint.url (bring your own endpoint): no weights, no GPU. */}}
{{- define "smart-sre.sidecarOverEndpoint" -}}
{{- if and (include "smart-sre.sidecar" .) .Values.inference.endpoint.url }}true{{ end }}
{{- end }}

{{/*
An image reference: REGISTRY/NAME:TAG, and @DIGEST when a digest is set.
  include "smart-sre.image" (list $ "operator" .Values.images.operator "0.1.0")
*/}}
{{- define "smart-sre.image" -}}
{{- $key := index . 1 }}
{{- $image := index . 2 }}
{{- $tag := index . 3 }}
{{- $registry := trimSuffix "/" (index . 0).Values.images.registry }}
{{- $ref := ternary (printf "%s/%s:%s" $registry $image.name $tag) (printf "%s:%s" $image.name $tag) (ne $registry "") }}
{{- with $image.digest }}
{{- if not (regexMatch "^sha256:[a-f0-9]{64}$" .) }}
{{- fail (printf "images.%s.digest must be sha256:<64 lowercase hex digits>, not %q" $key .) }}
{{- end }}
{{- $ref = printf "%s@%s" $ref . }}
{{- end }}
{{- $ref }}
{{- end }}

{{/* Pod Security "restricted" for every container; the pod's own part is podSecurityContext. */}}
{{- define "smart-sre.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The sidecar probes run inside it: its API answers on 127.0.0.1, which the kubelet cannot reach. */}}
{{- define "smart-sre.sidecarProbe" -}}
exec:
  command: ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{{ index . 0 }}{{ index . 1 }}', timeout=4)"]
{{- end }}

{{/* Refuses values that would render an install that cannot work, with the reason. */}}
{{- define "smart-sre.validate" -}}
{{- if and (eq .Values.inference.mode "endpoint") (not .Values.inference.endpoint.url) }}
{{- fail "inference.mode endpoint needs inference.endpoint.url (the in-cluster OpenAI-compatible endpoint)" }}
{{- end }}
{{- if and .Values.inference.endpoint.url .Values.networkPolicy.enabled (not .Values.inference.endpoint.to) }}
{{- fail "inference.endpoint.url needs inference.endpoint.to (NetworkPolicy peers of the endpoint's pods), or networkPolicy.enabled false: the pod's egress is closed to everything else" }}
{{- end }}
{{- if and (include "smart-sre.sidecarOverEndpoint" .) .Values.gpu.enabled }}
{{- fail "gpu.enabled with inference.endpoint.url: the endpoint's pods hold the GPU, the sidecar in front of it needs none; set gpu.enabled false" }}
{{- end }}
{{- if and (eq .Values.rbac.remediationScope "namespaces") (not .Values.rbac.remediationNamespaces) }}
{{- fail "rbac.remediationScope namespaces needs rbac.remediationNamespaces: the namespaces your DebugPolicies select" }}
{{- end }}
{{- end }}
