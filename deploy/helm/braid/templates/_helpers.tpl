{{/* Names and labels, in the usual form of `helm create`. */}}
{{- define "braid.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "braid.fullname" -}}
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

{{- define "braid.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "braid.labels" -}}
helm.sh/chart: {{ include "braid.chart" . }}
app.kubernetes.io/part-of: {{ include "braid.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The agent pods' selector. kubectl braid finds the agent by app.kubernetes.io/name=braid-agent
(tools/braidctl/README.md), so this name is fixed. */}}
{{- define "braid.agentSelectorLabels" -}}
app.kubernetes.io/name: braid-agent
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "braid.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-agent" (include "braid.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "braid.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The agent's API socket, under the run directory; braid-cni and braidctl use it. */}}
{{- define "braid.agentSocket" -}}
{{- printf "%s/agent.sock" (trimSuffix "/" .Values.hostPaths.runDir) }}
{{- end }}

{{/* Where the hugetlbfs volume is mounted in the agent container. */}}
{{- define "braid.hugeDir" -}}
/dev/hugepages-braid
{{- end }}

{{/* "true" when a path is an SR-IOV VF: the agent then needs /dev/vfio and privileges. */}}
{{- define "braid.hasVf" -}}
{{- $vf := false }}
{{- range .Values.paths }}{{ if eq .kind "vf" }}{{ $vf = true }}{{ end }}{{ end }}
{{- $vf }}
{{- end }}

{{/* braid-cni's `paths` (cni/README.md): one host-local range per subnet of each path. */}}
{{- define "braid.cniPaths" -}}
{{- $paths := list }}
{{- range .Values.paths }}
{{- $ranges := list }}
{{- if .ipv4Subnet }}
{{- $r := dict "subnet" .ipv4Subnet }}
{{- if .ipv4Gateway }}{{ $_ := set $r "gateway" .ipv4Gateway }}{{ end }}
{{- if .ipv4RangeStart }}{{ $_ := set $r "rangeStart" .ipv4RangeStart }}{{ end }}
{{- if .ipv4RangeEnd }}{{ $_ := set $r "rangeEnd" .ipv4RangeEnd }}{{ end }}
{{- $ranges = append $ranges $r }}
{{- end }}
{{- if .ipv6Subnet }}
{{- $r := dict "subnet" .ipv6Subnet }}
{{- if .ipv6Gateway }}{{ $_ := set $r "gateway" .ipv6Gateway }}{{ end }}
{{- if .ipv6RangeStart }}{{ $_ := set $r "rangeStart" .ipv6RangeStart }}{{ end }}
{{- if .ipv6RangeEnd }}{{ $_ := set $r "rangeEnd" .ipv6RangeEnd }}{{ end }}
{{- $ranges = append $ranges $r }}
{{- end }}
{{- $p := dict "name" .name "ranges" $ranges }}
{{- if .routes }}{{ $_ := set $p "routes" .routes }}{{ end }}
{{- $paths = append $paths $p }}
{{- end }}
{{- toJson $paths }}
{{- end }}

{{/* braid-cni's plugin configuration, without cniVersion and name (the list or the NAD adds them). */}}
{{- define "braid.cniPlugin" -}}
{{- $plugin := dict "type" "braid-cni" "agentSocket" (include "braid.agentSocket" .) "timeoutSeconds" .Values.cni.timeoutSeconds "paths" (include "braid.cniPaths" . | fromJsonArray) "ipam" (dict "type" "host-local" "dataDir" .Values.cni.ipamDataDir) }}
{{- if eq .Values.cni.mode "chained" }}
{{- $_ := set $plugin "capabilities" (dict "io.kubernetes.cri.pod-annotations" true) }}
{{- end }}
{{- toJson $plugin }}
{{- end }}

{{/* config `api.metrics_listen`: an IPv6 address goes in brackets. */}}
{{- define "braid.metricsListen" -}}
{{- if contains ":" .Values.metrics.bindAddress }}
{{- printf "[%s]:%d" .Values.metrics.bindAddress (int .Values.metrics.port) }}
{{- else }}
{{- printf "%s:%d" .Values.metrics.bindAddress (int .Values.metrics.port) }}
{{- end }}
{{- end }}

{{/* The probes' host: the pod IP (the node's, host network) unless the listener binds one
address only. */}}
{{- define "braid.probeHost" -}}
{{- if not (has .Values.metrics.bindAddress (list "0.0.0.0" "::")) }}
host: {{ .Values.metrics.bindAddress | quote }}
{{- end }}
{{- end }}

{{/* files/cni-install.sh's environment (install-cni, and the agent's preStop uninstall). */}}
{{- define "braid.cniInstallEnv" -}}
- name: BRAID_CNI_MODE
  value: {{ .Values.cni.mode | quote }}
- name: BRAID_CNI_SRC
  value: /usr/local/bin/braid-cni
- name: CNI_BIN_DIR
  value: /host/cni/bin
- name: CNI_CONF_DIR
  value: /host/cni/net.d
- name: BRAID_CONF_NAME
  value: {{ .Values.cni.chained.confName | quote }}
- name: BRAID_BASE_CONFIG
  value: {{ .Values.cni.chained.baseConfig | quote }}
- name: BRAID_PLUGIN_FILE
  value: /etc/braid/cni/braid-plugin.json
- name: BRAID_WAIT_SECONDS
  value: {{ .Values.cni.chained.waitSeconds | quote }}
- name: BRAID_RECORD
  value: /host/braid-state/cni-install.record
{{- end }}

{{- define "braid.cniInstallMounts" -}}
- name: cni-install
  mountPath: /etc/braid/cni
  readOnly: true
- name: cni-bin
  mountPath: /host/cni/bin
{{- if eq .Values.cni.mode "chained" }}
- name: cni-conf
  mountPath: /host/cni/net.d
{{- end }}
- name: state
  mountPath: /host/braid-state
{{- end }}
