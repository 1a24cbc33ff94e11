{{/* Names, labels, images, security contexts and the effective models registry. */}}

{{- define "hub.namespace" -}}
{{- .Values.main.namespace | default .Release.Namespace | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hub.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: stable across upgrades. Call with (dict "root" $ "component" "name"). */}}
{{- define "hub.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "hub.labels" -}}
{{ include "hub.selectorLabels" . }}
app.kubernetes.io/part-of: self-healing-platform
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "hub.chart" .root }}
{{- end -}}

{{/*
"repository@sha256:..." of an image value when its digest is set (the tag is then only a
note for people), else "repository:tag". The schema refuses an empty or "latest" tag and a
digest that is not sha256:<64 hex>.
*/}}
{{- define "hub.image" -}}
{{- if .digest -}}
{{- printf "%s@%s" .repository .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}
{{- end -}}

{{/* OpenShift restricted-v2 / Pod Security "restricted": no fixed UIDs, so OpenShift assigns one. */}}
{{- define "hub.podSecurityContext" -}}
runAsNonRoot: true
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Read-only root filesystem: a pod whose tools write scratch files mounts an emptyDir at /tmp. */}}
{{- define "hub.containerSecurityContext" -}}
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Names of the enabled models (after overrides), as JSON {"names": [...]}: their InferenceServices. */}}
{{- define "hub.enabledModelNames" -}}
{{- $names := list -}}
{{- range (include "hub.effectiveModels" . | fromJson).models }}{{ if .enabled }}{{ $names = append $names .name }}{{ end }}{{ end -}}
{{- dict "names" $names | toJson -}}
{{- end -}}

{{/*
The effective registry entry of one model, as JSON ("{}" when .Values.models has no such
model). Precedence, lowest first: the entry in `models:`, then `modelOverrides` (every
model), then `tekton.modelTraining.<camelCaseName>` (this model). A key set in a later
layer replaces the earlier value, false and 0 included; `serving` is merged key by key.
Call with (dict "root" $ "name" "anomaly-detector" "key" "anomalyDetector" "index" 0):
`index` is where the generator saw the model, tried first so that most lookups are O(1).
*/}}
{{- define "hub.effectiveModel" -}}
{{- $models := .root.Values.models | default list -}}
{{- $entry := dict -}}
{{- if and (lt (int .index) (len $models)) (eq (index $models (int .index)).name .name) -}}
{{- $entry = index $models (int .index) -}}
{{- else -}}
{{- range $models }}{{ if eq .name $.name }}{{ $entry = . }}{{ end }}{{ end -}}
{{- end -}}
{{- if $entry -}}
{{- $m := deepCopy $entry -}}
{{- $perModel := index ((.root.Values.tekton).modelTraining | default dict) .key | default dict -}}
{{- range $layer := list (.root.Values.modelOverrides | default dict) $perModel -}}
{{- range $k, $v := $layer -}}
{{- if and (eq $k "serving") (kindIs "map" $v) -}}
{{- $serving := deepCopy ($m.serving | default dict) -}}
{{- range $sk, $sv := $v }}{{ $_ := set $serving $sk $sv }}{{ end -}}
{{- $_ := set $m "serving" $serving -}}
{{- else -}}
{{- $_ := set $m $k $v -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not (hasKey $m "enabled") }}{{ $_ := set $m "enabled" true }}{{ end -}}
{{- toJson $m -}}
{{- else -}}
{}
{{- end -}}
{{- end -}}

{{/* All effective registry entries, in registry order, as JSON {"models": [...]}. */}}
{{- define "hub.effectiveModels" -}}
{{- $keys := include "hub.generated.modelKeys" . | fromYaml -}}
{{- $out := list -}}
{{- range $i, $entry := .Values.models -}}
{{- $key := index $keys $entry.name | default "" -}}
{{- $out = append $out (include "hub.effectiveModel" (dict "root" $ "name" $entry.name "key" $key "index" $i) | fromJson) -}}
{{- end -}}
{{- dict "models" $out | toJson -}}
{{- end -}}

{{/*
The train Tasks of the Pipeline, as JSON {"tasks": [...]}: one per registry model, named
train-<model>, with the model's cpu/memory/cpuLimit/memoryLimit (unset ones from
training.resources) as fixed step resources, and the `when` that selects it by the run's
model-name. Fixed resources in the Task need no beta Tekton field (taskRunSpecs[].computeResources
does). gpu: true is refused: no model kind uses a GPU (docs/ARCHITECTURE.md).
*/}}
{{- define "hub.training.trainTasks" -}}
{{- if and (eq .Values.training.runner "notebookValidationJob") (not .Values.global.git.repoURL) -}}
{{- fail "training.runner=notebookValidationJob: the notebook validator operator clones each notebook from git, so set global.git.repoURL (and global.git.revision) to the repository holding them" -}}
{{- end -}}
{{- $defaults := .Values.training.resources -}}
{{- $tasks := list -}}
{{- range (include "hub.effectiveModels" . | fromJson).models -}}
{{- if .gpu -}}
{{- fail (printf "models: %s sets gpu: true, which no model kind uses yet (scikit-learn trains on CPU and the workbench image has no CUDA); set gpu: false" .name) -}}
{{- end -}}
{{- $requests := dict "cpu" (.cpu | default ($defaults.requests).cpu) "memory" (.memory | default ($defaults.requests).memory) -}}
{{- $limits := dict "cpu" (.cpuLimit | default ($defaults.limits).cpu) "memory" (.memoryLimit | default ($defaults.limits).memory) -}}
{{- $when := list (dict "input" "$(params.model-name)" "operator" "in" "values" (list .name)) -}}
{{- $tasks = append $tasks (dict "name" (printf "train-%s" .name) "model" .name "when" $when
      "resources" (dict "requests" $requests "limits" $limits)) -}}
{{- end -}}
{{- dict "tasks" $tasks | toJson -}}
{{- end -}}

{{/* Seconds of a duration in the registry's form (1h, 30m, 1h30m, 90s). */}}
{{- define "hub.training.seconds" -}}
{{- $h := regexFind "[0-9]+h" . | trimSuffix "h" | default "0" | int -}}
{{- $m := regexFind "[0-9]+m" . | trimSuffix "m" | default "0" | int -}}
{{- $s := regexFind "[0-9]+s" . | trimSuffix "s" | default "0" | int -}}
{{- add (mul $h 3600) (mul $m 60) $s -}}
{{- end -}}

{{- define "hub.training.duration" -}}
{{- if eq (mod (int .) 60) 0 }}{{ div (int .) 60 }}m{{ else }}{{ . }}s{{ end -}}
{{- end -}}

{{/*
spec.timeouts of a PipelineRun: the whole run gets `timeout`, `finally` (the report) its
own share, the tasks the rest, so a run that times out still reports and cleans up.
Same split as modelkit.pipeline_steps.run_timeouts. Call with
(dict "model" "<name>" "timeout" "30m" "finally" "10m").
*/}}
{{- define "hub.training.timeouts" -}}
{{- $total := include "hub.training.seconds" .timeout | int -}}
{{- $final := include "hub.training.seconds" .finally | int -}}
{{- if le $total $final -}}
{{- fail (printf "models: %s timeout %s leaves no time for training: it must be longer than the %s kept for the report step" .model .timeout .finally) -}}
{{- end -}}
pipeline: {{ include "hub.training.duration" $total | quote }}
tasks: {{ include "hub.training.duration" (sub $total $final) | quote }}
finally: {{ .finally | quote }}
{{- end -}}

{{/* Prometheus settings of the train step (names from notebooks/modelkit/settings.py VARIABLES). */}}
{{- define "hub.training.prometheusEnv" -}}
{{- $p := .Values.prometheus -}}
- name: PROMETHEUS_URL
  value: {{ $p.url | quote }}
{{- if ($p.tokenSecret).name }}
- name: PROMETHEUS_TOKEN_FILE
  value: /etc/prometheus-token/{{ $p.tokenSecret.key }}
{{- end }}
{{- if ($p.caBundle).configMap }}
- name: PROMETHEUS_CA_BUNDLE
  value: /etc/prometheus-ca/{{ $p.caBundle.key }}
{{- end }}
{{- if not $p.tlsVerify }}
- name: PROMETHEUS_TLS_VERIFY
  value: "false"
{{- end }}
{{- end -}}

{{- define "hub.training.prometheusVolumes" -}}
{{- $p := .Values.prometheus -}}
{{- if ($p.tokenSecret).name }}
- name: prometheus-token
  secret:
    secretName: {{ $p.tokenSecret.name }}
{{- end }}
{{- if ($p.caBundle).configMap }}
- name: prometheus-ca
  configMap:
    name: {{ $p.caBundle.configMap }}
{{- end }}
{{- end -}}

{{- define "hub.training.prometheusMounts" -}}
{{- $p := .Values.prometheus -}}
{{- if ($p.tokenSecret).name }}
- name: prometheus-token
  mountPath: /etc/prometheus-token
  readOnly: true
{{- end }}
{{- if ($p.caBundle).configMap }}
- name: prometheus-ca
  mountPath: /etc/prometheus-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/*
ArgoCD sync waves of the objects that depend on a first model (see docs/ARCHITECTURE.md
"What a cluster needs"). A model's `syncWave` orders its run spec and CronJob; the
first-training Sync hook comes after every enabled model's run spec, and the
InferenceServices and Services come last. ArgoCD waits for each wave to be Healthy before
the next, but not for the last wave of the last phase (gitops-engine sync_context.go),
so predictors that wait for their first model never hold the sync.
*/}}
{{- define "hub.waves.firstTraining" -}}
{{- $max := 0 -}}
{{- range (include "hub.effectiveModels" . | fromJson).models -}}
{{- if .enabled }}{{ $max = max $max (int (.syncWave | default "2")) }}{{ end -}}
{{- end -}}
{{- add1 $max -}}
{{- end -}}

{{- define "hub.waves.serving" -}}
{{- add1 (include "hub.waves.firstTraining" .) -}}
{{- end -}}

{{/*
The PVC's wave is its first consumer's: ArgoCD reports a Pending claim as Progressing
(gitops-engine health_pvc.go), and on a WaitForFirstConsumer class (gp3-csi, thin-csi, ...)
a claim stays Pending until a pod uses it, so a claim in an earlier wave would hold the sync.
*/}}
{{- define "hub.waves.storage" -}}
{{- if .Values.troubleshooting.enabled -}}1
{{- else if .Values.training.firstRun.enabled -}}{{ include "hub.waves.firstTraining" . }}
{{- else -}}{{ include "hub.waves.serving" . }}
{{- end -}}
{{- end -}}

{{/*
storage.accessMode=ReadWriteOnce: every pod that mounts model-storage-pvc must run on the
node of the storage anchor (the troubleshooting Deployment), because an RWO volume attaches
to one node at a time. Renders an `affinity:` block, or nothing for ReadWriteMany.
*/}}
{{- define "hub.storage.anchorLabels" -}}
{{ include "hub.selectorLabels" (dict "root" . "component" "troubleshooting") }}
{{- end -}}

{{- define "hub.storage.affinity" -}}
{{- if eq .Values.storage.accessMode "ReadWriteOnce" -}}
affinity:
  podAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "hub.storage.anchorLabels" . | nindent 12 }}
{{- end -}}
{{- end -}}

{{/* The ServingRuntime the InferenceServices name in predictor.model.runtime. */}}
{{- define "hub.serving.runtimeName" -}}
{{- if .Values.serving.existingRuntime -}}{{ .Values.serving.existingRuntime }}
{{- else if eq .Values.serving.runtime "modelkit" -}}modelkit-sklearn
{{- else -}}kserve-sklearnserver
{{- end -}}
{{- end -}}

{{/* A writable /tmp for containers under readOnlyRootFilesystem: the volume, then the mount. */}}
{{- define "hub.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

{{- define "hub.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}
