{{/* The chart's name, or nameOverride. */}}
{{- define "securesite.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name: fullnameOverride, else the release name when it already
contains the chart's name (release "securesite" gives the names config/default uses), else
<release>-<chart>.
*/}}
{{- define "securesite.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "securesite.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "securesite.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: securesite
{{- end }}

{{- define "securesite.selectorLabels" -}}
app.kubernetes.io/name: {{ include "securesite.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
control-plane: controller-manager
{{- end }}

{{- define "securesite.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-controller-manager" (include "securesite.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "securesite.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The manager's arguments: one per value that is set, so unset values keep the manager's defaults. */}}
{{- define "securesite.args" -}}
{{- $v := .Values -}}
{{- if $v.leaderElection.enabled }}
- --leader-elect
{{- end }}
{{- with $v.leaderElection.id }}
- {{ printf "--leader-election-id=%v" . | quote }}
{{- end }}
{{- with $v.watchLabelSelector }}
- {{ printf "--watch-label-selector=%v" . | quote }}
{{- end }}
{{- if $v.metrics.enabled }}
- --metrics-bind-address=:{{ $v.metrics.port }}
{{- if $v.metrics.secure }}
- --metrics-secure
{{- end }}
{{- else }}
- --metrics-bind-address=0
{{- end }}
- --health-probe-bind-address=:{{ $v.probes.port }}
{{- if $v.pprof.enabled }}
- --pprof-bind-address=127.0.0.1:{{ $v.pprof.port }}
{{- end }}
{{- with $v.aws.endpointURL }}
- {{ printf "--aws-endpoint-url=%v" . | quote }}
{{- end }}
{{- with $v.acme.server }}
- {{ printf "--acme-server=%v" . | quote }}
{{- end }}
{{- with $v.acme.email }}
- {{ printf "--acme-email=%v" . | quote }}
{{- end }}
{{- if $v.acme.caBundle.configMap }}
- {{ printf "--acme-ca-bundle=/etc/securesite/acme-ca/%s" $v.acme.caBundle.key | quote }}
{{- end }}
{{- with $v.acme.limits.ordersPerAccount }}
- {{ printf "--acme-orders-per-account=%v" . | quote }}
{{- end }}
{{- with $v.acme.limits.certificatesPerDomain }}
- {{ printf "--acme-certificates-per-domain=%v" . | quote }}
{{- end }}
{{- with $v.acme.limits.duplicateCertificates }}
- {{ printf "--acme-duplicate-certificates=%v" . | quote }}
{{- end }}
{{- with $v.dns01.nameservers }}
- {{ printf "--dns01-nameservers=%s" (join "," .) | quote }}
{{- end }}
{{- if $v.dns01.skipAuthoritativeCheck }}
- --dns01-skip-authoritative-check
{{- end }}
{{- if not (kindIs "invalid" $v.maxConcurrentReconciles) }}
- --max-concurrent-reconciles={{ $v.maxConcurrentReconciles }}
{{- end }}
{{- if not (kindIs "invalid" $v.issuanceWorkers) }}
- --issuance-workers={{ $v.issuanceWorkers }}
{{- end }}
{{- with $v.resyncPeriod }}
- {{ printf "--resync-period=%v" . | quote }}
{{- end }}
{{- with $v.tenancy.ownerID }}
- {{ printf "--owner-id=%v" . | quote }}
{{- end }}
{{- with $v.tenancy.nameHold }}
- {{ printf "--name-hold=%v" . | quote }}
{{- end }}
{{- with $v.tenancy.domainFilter }}
- {{ printf "--domain-filter=%s" (join "," .) | quote }}
{{- end }}
{{- with $v.tenancy.zoneIDFilter }}
- {{ printf "--zone-id-filter=%s" (join "," .) | quote }}
{{- end }}
{{- with $v.tenancy.reservedNames }}
- {{ printf "--reserved-names=%s" (join "," .) | quote }}
{{- end }}
{{- with $v.driftCheckInterval }}
- {{ printf "--drift-check-interval=%v" . | quote }}
{{- end }}
{{- with $v.log.level }}
- {{ printf "--zap-log-level=%v" . | quote }}
{{- end }}
{{- with $v.log.format }}
- {{ printf "--zap-encoder=%v" . | quote }}
{{- end }}
{{- if $v.log.development }}
- --zap-devel
{{- end }}
{{- with $v.log.stacktraceLevel }}
- {{ printf "--zap-stacktrace-level=%v" . | quote }}
{{- end }}
{{- with $v.log.timeEncoding }}
- {{ printf "--zap-time-encoding=%v" . | quote }}
{{- end }}
{{- range $v.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}
