# --- Cluster access -------------------------------------------------------------------------

variable "kubeconfig_path" {
  description = "Path of the kubeconfig to use; null uses the provider's defaults (KUBE_CONFIG_PATH)."
  type        = string
  default     = null
}

variable "kube_context" {
  description = "kubeconfig context to use; null uses the current context."
  type        = string
  default     = null
}

# --- What to deploy, where ------------------------------------------------------------------

variable "name" {
  description = "Name of every object (Deployment, Service, HPA, PDB, ConfigMap, ServiceAccount)."
  type        = string
  default     = "aiservice"
}

variable "namespace" {
  description = "Namespace to create and deploy into."
  type        = string
  default     = "aiservice"
}

variable "image" {
  description = "Container image, built from service/Dockerfile. Pin a tag or digest, never latest."
  type        = string
  default     = "ghcr.io/example/aiservice:0.1.0"

  validation {
    condition     = !endswith(var.image, ":latest") && length(regexall(":[^/]+$|@sha256:", var.image)) > 0
    error_message = "image must name an explicit tag or digest (and not :latest)."
  }
}

variable "environment" {
  description = "The service's ENV: development or production."
  type        = string
  default     = "production"

  validation {
    condition     = contains(["development", "production"], var.environment)
    error_message = "environment must be development or production."
  }
}

# --- Scaling --------------------------------------------------------------------------------

variable "replicas" {
  description = "Replicas at creation only; afterwards the HPA owns the count (see lifecycle in main.tf)."
  type        = number
  default     = 3
}

variable "min_replicas" {
  description = "HPA lower bound."
  type        = number
  default     = 3

  validation {
    condition     = var.min_replicas >= 1
    error_message = "min_replicas must be at least 1."
  }
}

variable "max_replicas" {
  description = "HPA upper bound (must be >= min_replicas)."
  type        = number
  default     = 10
}

variable "cpu_target_utilization" {
  description = "HPA target: average CPU use as a percentage of the CPU request."
  type        = number
  default     = 70

  validation {
    condition     = var.cpu_target_utilization > 0 && var.cpu_target_utilization <= 100
    error_message = "cpu_target_utilization must be in (0, 100]."
  }
}

variable "resources" {
  description = "Container CPU/memory requests and limits."
  type = object({
    requests = object({ cpu = string, memory = string })
    limits   = object({ cpu = string, memory = string })
  })
  default = {
    requests = { cpu = "500m", memory = "256Mi" }
    limits   = { cpu = "2", memory = "512Mi" }
  }
}

# --- Shutdown timing ------------------------------------------------------------------------
# Whole seconds, so that terminationGracePeriodSeconds can be derived from them (main.tf):
# it is always pre_drain + grace + margin, and can never drift below what the service needs.

variable "shutdown_grace_period_seconds" {
  description = "AISERVICE_SHUTDOWN_GRACE_PERIOD: how long in-flight requests may take to finish after SIGTERM."
  type        = number
  default     = 30

  validation {
    condition     = var.shutdown_grace_period_seconds > 0 && floor(var.shutdown_grace_period_seconds) == var.shutdown_grace_period_seconds
    error_message = "shutdown_grace_period_seconds must be a positive whole number."
  }
}

variable "shutdown_pre_drain_delay_seconds" {
  description = "AISERVICE_SHUTDOWN_PRE_DRAIN_DELAY: time readiness is 503 before the listener closes, so endpoints and load balancers stop sending."
  type        = number
  default     = 5

  validation {
    condition     = var.shutdown_pre_drain_delay_seconds >= 0 && floor(var.shutdown_pre_drain_delay_seconds) == var.shutdown_pre_drain_delay_seconds
    error_message = "shutdown_pre_drain_delay_seconds must be a whole number >= 0."
  }
}

variable "termination_margin_seconds" {
  description = "Extra seconds in terminationGracePeriodSeconds beyond pre-drain + grace, for flushing telemetry and exiting."
  type        = number
  default     = 10

  validation {
    condition     = var.termination_margin_seconds >= 1
    error_message = "termination_margin_seconds must be at least 1, or the kubelet may SIGKILL a clean exit."
  }
}

# --- Configuration --------------------------------------------------------------------------

variable "log_level" {
  description = "AISERVICE_LOG_LEVEL: debug, info, warn or error."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be debug, info, warn or error."
  }
}

variable "otlp_endpoint" {
  description = "OTLP_ENDPOINT: OTLP/HTTP collector base URL; empty disables trace export."
  type        = string
  default     = "http://otel-collector.observability.svc.cluster.local:4318"
}

variable "trace_sampler_arg" {
  description = "OTEL_TRACES_SAMPLER_ARG: ratio of new root traces kept (the sampler is parent-based). null: the environment's, 1 in development and 0.1 in production, as in the gitops overlays."
  type        = number
  default     = null

  validation {
    # try: comparing null fails, and Terraform's || evaluates both sides.
    condition     = var.trace_sampler_arg == null || try(var.trace_sampler_arg >= 0 && var.trace_sampler_arg <= 1, false)
    error_message = "trace_sampler_arg must be between 0 and 1."
  }
}

variable "env" {
  description = "Extra environment variables (name => value), merged over the ones this module sets. Never put secrets here: they land in the state and the plan."
  type        = map(string)
  default     = {}
}

variable "config_yaml" {
  description = "The service's YAML config, mounted at /etc/aiservice/config.yaml; null uses gitops/overlays/production/config.yaml, the file the production overlay ships."
  type        = string
  default     = null
}

variable "secret_name" {
  description = "Name of an existing Secret with keys openai-api-key and api-keys (created out of band; both optional)."
  type        = string
  default     = "aiservice-secrets"
}
