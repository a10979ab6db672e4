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
A rule file's groups with the chart's alert settings applied: alerts named in
prometheusRule.disabledAlerts are left out (a group left empty is dropped), and
prometheusRule.alertLabels are added to every alert (its own labels win).
Arg: dict "root" $ "content" <file text>. Output: YAML of the list of groups.
*/}}
{{- define "unitcost.ruleGroups" -}}
{{- $values := .root.Values.prometheusRule -}}
{{- $doc := fromYaml .content -}}
{{- if hasKey $doc "Error" -}}
{{- fail (printf "unitcost: a rule file in files/rules does not parse: %s" (get $doc "Error")) -}}
{{- end -}}
{{- $groups := list -}}
{{- range $group := $doc.groups -}}
{{- $rules := list -}}
{{- range $rule := $group.rules -}}
{{- if not (and $rule.alert (has $rule.alert $values.disabledAlerts)) -}}
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
