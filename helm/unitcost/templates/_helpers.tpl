{{/* Names, labels and shared pod pieces. */}}

{{- define "unitcost.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "unitcost.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The GPU agent's name: the full name, shortened so the suffix always fits in 63. */}}
{{- define "unitcost.gpuAgentName" -}}
{{- printf "%s-gpu-agent" (include "unitcost.fullname" . | trunc 53 | trimSuffix "-") -}}
{{- end -}}

{{- define "unitcost.selectorLabels" -}}
app.kubernetes.io/name: {{ include "unitcost.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "unitcost.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "unitcost.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: unitcost
{{- end -}}

{{- define "unitcost.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "unitcost.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* An image reference from {repository, tag, digest}: the digest wins, then the tag, then
the chart's appVersion. Arg: (dict "image" <values> "appVersion" .Chart.AppVersion). */}}
{{- define "unitcost.imageRef" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (default .appVersion .image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The exporter's image (`unitcost[all]`): serve, and the actions controller. */}}
{{- define "unitcost.image" -}}
{{- include "unitcost.imageRef" (dict "image" .Values.image "appVersion" .Chart.AppVersion) -}}
{{- end -}}

{{/* The GPU agent's own image (`unitcost[gpu]` only). */}}
{{- define "unitcost.gpuAgentImage" -}}
{{- include "unitcost.imageRef" (dict "image" .Values.gpuAgent.image "appVersion" .Chart.AppVersion) -}}
{{- end -}}

{{/* Namespace for objects that may live elsewhere (rules, dashboards): arg is the override. */}}
{{- define "unitcost.namespaceOr" -}}
{{- default .root.Release.Namespace .namespace -}}
{{- end -}}

{{/*
The config file as the exporter reads it: the user's config, plus the chart's price book
(when set) appended to `pricebooks:` (a path relative to the config file).
*/}}
{{- define "unitcost.configYaml" -}}
{{- $config := deepCopy .Values.config -}}
{{- if .Values.pricebook -}}
{{- $books := concat (get $config "pricebooks" | default list) (list "pricebook.yaml") -}}
{{- $_ := set $config "pricebooks" $books -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{/*
A rule file's groups with the chart's settings applied: alerts named in
prometheusRule.disabledAlerts are left out (a group left empty is dropped),
prometheusRule.alertLabels are added to every alert (its own labels win), runbook_url
annotations point into prometheusRule.runbookBaseUrl (same #section), and the cluster label
is renamed to clusterLabel in expressions and alert templates. With the default values the
groups are the file's, unchanged.
Arg: dict "root" $ "content" <file text>. Output: YAML of the list of groups.
*/}}
{{- define "unitcost.ruleGroups" -}}
{{- $values := .root.Values.prometheusRule -}}
{{- $label := include "unitcost.clusterLabel" .root -}}
{{- $doc := fromYaml .content -}}
{{- if hasKey $doc "Error" -}}
{{- fail (printf "unitcost: a rule file in files/rules does not parse: %s" (get $doc "Error")) -}}
{{- end -}}
{{- $groups := list -}}
{{- range $group := $doc.groups -}}
{{- $rules := list -}}
{{- range $rule := $group.rules -}}
{{- if not (and $rule.alert (has $rule.alert $values.disabledAlerts)) -}}
{{- include "unitcost.renameClusterLabelInValues" (dict "map" $rule "keys" (list "expr") "label" $label) -}}
{{- range $field := list "labels" "annotations" -}}
{{- with get $rule $field -}}
{{- include "unitcost.renameClusterLabelInValues" (dict "map" . "keys" (keys .) "label" $label) -}}
{{- end -}}
{{- end -}}
{{- if and $rule.annotations $rule.annotations.runbook_url -}}
{{- /* Everything before the #section is the base: the files' base is docs/runbooks.md on GitHub. */ -}}
{{- $_ := set $rule.annotations "runbook_url" (regexReplaceAllLiteral "^[^#]*" $rule.annotations.runbook_url $values.runbookBaseUrl) -}}
{{- end -}}
{{- if and $rule.alert $values.alertLabels -}}
{{- $_ := set $rule "labels" (merge (dict) ($rule.labels | default dict) $values.alertLabels) -}}
{{- end -}}
{{- $rules = append $rules $rule -}}
{{- end -}}
{{- end -}}
{{- if $rules -}}
{{- $groups = append $groups (set $group "rules" $rules) -}}
{{- end -}}
{{- end -}}
{{- toYaml $groups -}}
{{- end -}}

{{/*
The label that names the cluster (values clusterLabel). Refuses a label the rules and
dashboards already use for something else: renaming cluster to it would merge the two.
*/}}
{{- define "unitcost.clusterLabel" -}}
{{- $taken := list "app" "cause" "claim" "cluster_queue" "cohort" "cost_center" "destination" "direction" "flavor" "gpu" "gpu_model" "holds_gpu" "horizon" "instance" "job" "kind" "le" "measure" "method" "mig_profile" "model" "namespace" "nat" "node" "node_pool" "org" "outcome" "part" "period" "persistentvolume" "pod" "provider" "queue" "resource" "service" "sli" "source" "state" "team" "tokens" "view" "workload_kind" -}}
{{- if has .Values.clusterLabel $taken -}}
{{- fail (printf "unitcost: clusterLabel %q is a label the rules and dashboards already use (%s); pick the label that names the cluster in your series" .Values.clusterLabel (join ", " $taken)) -}}
{{- end -}}
{{- .Values.clusterLabel -}}
{{- end -}}

{{/*
Rename the cluster label in a rule expression, an alert template or a dashboard query or
legend, for series that name the cluster with another label (values clusterLabel, e.g.
k8s_cluster). Only the forms the bundle's files use are rewritten, so record names
(cluster:unitcost_cost_dollars_per_hour:sum) and the dashboards' variable ($cluster, var-cluster) stay:
  by|without|on|ignoring|group_left|group_right (..., cluster, ...)   grouping lists
  {cluster="x"}, {a="b", cluster=~"$cluster"}                         label matchers
  label_values(<series>, cluster)                                     Grafana variables
  $labels.cluster                                                     alert templates
  {{cluster}}                                                         Grafana legends
tests/chart/test_parameters.py compares every rendered rule and dashboard query with a rename
done on PromQL tokens, so a form missing here (or a string holding one of these forms, which
a regular expression cannot tell apart) fails the tests.
Arg: dict "text" <string> "label" <new name>. Output: the text.
*/}}
{{- define "unitcost.renameClusterLabel" -}}
{{- $text := .text -}}
{{- if ne .label "cluster" -}}
{{- $kept := printf "${1}%s${2}" .label -}}
{{- $text = regexReplaceAll `(\b(?i:by|without|on|ignoring|group_left|group_right)\s*\((?:[^()]*?[\s,])?)cluster(\s*[,)])` $text $kept -}}
{{- $text = regexReplaceAll `([{,]\s*)cluster(\s*(?:=~|!~|!=|=)\s*["'\x60])` $text $kept -}}
{{- $text = regexReplaceAll `^(\s*label_values\s*\((?:.*,)?\s*)cluster(\s*\)\s*)$` $text $kept -}}
{{- $text = regexReplaceAll `(\$labels\.)cluster(\b)` $text $kept -}}
{{- $text = regexReplaceAll `(\{\{\s*)cluster(\s*\}\})` $text $kept -}}
{{- end -}}
{{- $text -}}
{{- end -}}

{{/* renameClusterLabel on the string values of a map, in place. Arg: dict "map" "keys" "label". */}}
{{- define "unitcost.renameClusterLabelInValues" -}}
{{- $map := .map -}}
{{- $label := .label -}}
{{- range $key := .keys -}}
{{- $value := get $map $key -}}
{{- if and (hasKey $map $key) (kindIs "string" $value) (ne $label "cluster") -}}
{{- $_ := set $map $key (include "unitcost.renameClusterLabel" (dict "text" $value "label" $label)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
renameClusterLabel on every query and legend of a parsed Grafana dashboard, in place: the
strings under the keys expr, query (targets, variables) and legendFormat, at any depth.
Arg: dict "node" <map or list> "label" <new name>.
*/}}
{{- define "unitcost.renameClusterLabelInDashboard" -}}
{{- $label := .label -}}
{{- if kindIs "map" .node -}}
{{- include "unitcost.renameClusterLabelInValues" (dict "map" .node "keys" (list "expr" "query" "legendFormat") "label" $label) -}}
{{- range $value := values .node -}}
{{- if or (kindIs "map" $value) (kindIs "slice" $value) -}}
{{- include "unitcost.renameClusterLabelInDashboard" (dict "node" $value "label" $label) -}}
{{- end -}}
{{- end -}}
{{- else if kindIs "slice" .node -}}
{{- range $item := .node -}}
{{- include "unitcost.renameClusterLabelInDashboard" (dict "node" $item "label" $label) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The name of a rule or dashboard object from its file path: files/rules/alerts-budget.yaml -> <fullname>-alerts-budget. */}}
{{- define "unitcost.fileObjectName" -}}
{{- $stem := base .path | trimSuffix (ext .path) -}}
{{- printf "%s-%s" (include "unitcost.fullname" .root | trunc 40 | trimSuffix "-") $stem | trunc 253 | trimSuffix "-" -}}
{{- end -}}

{{/* Refuses a credential written into values as a literal env value. Arg: dict "env" list "field" name. */}}
{{- define "unitcost.noLiteralCredentials" -}}
{{- range $i, $var := .env -}}
{{- if and (hasKey $var "value") (regexMatch "(?i)(secret|password|passwd|token|access_key|api_key|credential|private_key)" $var.name) -}}
{{- fail (printf "unitcost: %s[%d] %s: a credential cannot be a literal value; use cloudCredentials.existingSecret, workload identity (cloudIdentity), or valueFrom.secretKeyRef" $.field $i $var.name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The exporter's env: the existing Secret's keys (envFrom) and the GCP key file path. */}}
{{- define "unitcost.credentialsEnv" -}}
{{- $c := .Values.cloudCredentials -}}
{{- $env := .Values.exporter.extraEnv -}}
{{- include "unitcost.noLiteralCredentials" (dict "env" $env "field" "exporter.extraEnv") -}}
{{- if and $c.existingSecret $c.gcpKeyFile -}}
{{- $env = append $env (dict "name" "GOOGLE_APPLICATION_CREDENTIALS" "value" (printf "%s/%s" $c.mountPath $c.gcpKeyFile)) -}}
{{- end -}}
{{- if $c.existingSecret }}
envFrom:
  - secretRef:
      name: {{ $c.existingSecret }}
{{- end }}
{{- with $env }}
env:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
