# The same workload as gitops/ (Kustomize), for teams that deploy with Terraform: namespace,
# ServiceAccount, ConfigMap, Deployment, Service, HPA and PDB, with the same probes, shutdown
# timing and security context. harness/deploy checks both against the service's own config.

locals {
  labels = {
    "app.kubernetes.io/name"       = var.name
    "app.kubernetes.io/part-of"    = "aiservice"
    "app.kubernetes.io/managed-by" = "terraform"
  }
  # Selectors are immutable on a Deployment: only the stable name label.
  selector = { "app.kubernetes.io/name" = var.name }

  port        = 8080
  config_dir  = "/etc/aiservice"
  config_yaml = coalesce(var.config_yaml, file("${path.module}/../gitops/overlays/production/config.yaml"))

  # The kubelet SIGKILLs after this; the service needs pre-drain + grace to finish cleanly.
  termination_grace_period_seconds = var.shutdown_pre_drain_delay_seconds + var.shutdown_grace_period_seconds + var.termination_margin_seconds

  # Every trace in development, a tenth of the new root traces in production (the gitops
  # overlays say the same), unless trace_sampler_arg says otherwise.
  trace_sampler_arg = coalesce(var.trace_sampler_arg, { development = 1, production = 0.1 }[var.environment])

  # Every name here is one `aiservice config --env` lists (a test checks it).
  env = merge({
    AISERVICE_ADDR                     = "0.0.0.0:${local.port}"
    AISERVICE_CONFIG                   = "${local.config_dir}/config.yaml"
    ENV                                = var.environment
    AISERVICE_LOG_LEVEL                = var.log_level
    AISERVICE_SHUTDOWN_GRACE_PERIOD    = "${var.shutdown_grace_period_seconds}s"
    AISERVICE_SHUTDOWN_PRE_DRAIN_DELAY = "${var.shutdown_pre_drain_delay_seconds}s"
    OTLP_ENDPOINT                      = var.otlp_endpoint
    OTEL_TRACES_SAMPLER                = "parentbased_traceidratio"
    OTEL_TRACES_SAMPLER_ARG            = tostring(local.trace_sampler_arg)
  }, var.env)

  # Secrets are referenced, never copied into Terraform state.
  secret_env = {
    OPENAI_API_KEY     = "openai-api-key"
    AISERVICE_API_KEYS = "api-keys"
  }
}

resource "kubernetes_namespace_v1" "this" {
  metadata {
    name = var.namespace
    labels = merge(local.labels, {
      # The pod spec meets the restricted Pod Security Standard; have the API server enforce it.
      "pod-security.kubernetes.io/enforce" = "restricted"
    })
  }
}

resource "kubernetes_service_account_v1" "this" {
  metadata {
    name      = var.name
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels
  }
  # The service never talks to the Kubernetes API.
  automount_service_account_token = false
}

resource "kubernetes_config_map_v1" "this" {
  metadata {
    name      = "${var.name}-config"
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels
  }
  data = {
    "config.yaml" = local.config_yaml
  }
}

resource "kubernetes_deployment_v1" "this" {
  metadata {
    name      = var.name
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels
  }

  spec {
    replicas               = var.replicas
    revision_history_limit = 5

    selector {
      match_labels = local.selector
    }

    strategy {
      type = "RollingUpdate"
      rolling_update {
        # Never below the current capacity during a rollout.
        max_unavailable = "0"
        max_surge       = "25%"
      }
    }

    template {
      metadata {
        labels = local.labels
        annotations = {
          # A ConfigMap edit must roll the pods: the service reads its config once, at start.
          "checksum/config"      = sha256(local.config_yaml)
          "prometheus.io/scrape" = "true"
          "prometheus.io/port"   = tostring(local.port)
          "prometheus.io/path"   = "/metrics"
        }
      }

      spec {
        service_account_name            = kubernetes_service_account_v1.this.metadata[0].name
        automount_service_account_token = false
        enable_service_links            = false
        # On SIGTERM the service flips /readyz to 503, serves on for the pre-drain delay, then
        # drains for up to the grace period. The distroless image has no shell or sleep, so
        # there is no exec preStop hook: the service's pre-drain delay does that job.
        termination_grace_period_seconds = local.termination_grace_period_seconds

        security_context {
          run_as_non_root = true
          run_as_user     = 65532
          run_as_group    = 65532
          seccomp_profile {
            type = "RuntimeDefault"
          }
        }

        topology_spread_constraint {
          max_skew           = 1
          topology_key       = "kubernetes.io/hostname"
          when_unsatisfiable = "ScheduleAnyway"
          label_selector {
            match_labels = local.selector
          }
        }

        container {
          name              = "aiservice"
          image             = var.image
          image_pull_policy = "IfNotPresent"
          args              = ["serve"]

          port {
            name           = "http"
            container_port = local.port
            protocol       = "TCP"
          }

          dynamic "env" {
            for_each = local.env
            content {
              name  = env.key
              value = env.value
            }
          }

          dynamic "env" {
            for_each = local.secret_env
            content {
              name = env.key
              value_from {
                secret_key_ref {
                  name = var.secret_name
                  key  = env.value
                  # A namespace without the Secret still starts (on the built-in simulator).
                  optional = true
                }
              }
            }
          }

          liveness_probe {
            http_get {
              path = "/healthz"
              port = "http"
            }
            period_seconds    = 10
            timeout_seconds   = 3
            failure_threshold = 3
          }

          readiness_probe {
            http_get {
              path = "/readyz"
              port = "http"
            }
            period_seconds    = 5
            timeout_seconds   = 2
            failure_threshold = 2
          }

          resources {
            requests = var.resources.requests
            limits   = var.resources.limits
          }

          security_context {
            allow_privilege_escalation = false
            read_only_root_filesystem  = true
            run_as_non_root            = true
            privileged                 = false
            capabilities {
              drop = ["ALL"]
            }
            seccomp_profile {
              type = "RuntimeDefault"
            }
          }

          volume_mount {
            name       = "config"
            mount_path = local.config_dir
            read_only  = true
          }
        }

        volume {
          name = "config"
          config_map {
            name = kubernetes_config_map_v1.this.metadata[0].name
          }
        }
      }
    }
  }

  lifecycle {
    # The HPA owns the replica count after creation; re-applying must not reset it.
    ignore_changes = [spec[0].replicas]
  }
}

resource "kubernetes_service_v1" "this" {
  metadata {
    name      = var.name
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels
  }
  spec {
    type     = "ClusterIP"
    selector = local.selector
    port {
      name        = "http"
      port        = 80
      target_port = "http"
      protocol    = "TCP"
    }
  }
}

resource "kubernetes_horizontal_pod_autoscaler_v2" "this" {
  metadata {
    name      = var.name
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels
  }
  spec {
    min_replicas = var.min_replicas
    max_replicas = var.max_replicas

    scale_target_ref {
      api_version = "apps/v1"
      kind        = "Deployment"
      name        = kubernetes_deployment_v1.this.metadata[0].name
    }

    metric {
      type = "Resource"
      resource {
        name = "cpu"
        target {
          type                = "Utilization"
          average_utilization = var.cpu_target_utilization
        }
      }
    }

    behavior {
      # Scale down slowly: streams last up to minutes and each removed pod drains them.
      scale_down {
        stabilization_window_seconds = 300
        select_policy                = "Max"
        policy {
          type           = "Pods"
          value          = 1
          period_seconds = 60
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.max_replicas >= var.min_replicas
      error_message = "max_replicas must be >= min_replicas."
    }
  }
}

resource "kubernetes_pod_disruption_budget_v1" "this" {
  metadata {
    name      = var.name
    namespace = kubernetes_namespace_v1.this.metadata[0].name
    labels    = local.labels
  }
  spec {
    # maxUnavailable rather than minAvailable: with one replica, minAvailable 1 blocks drains.
    max_unavailable = "1"
    selector {
      match_labels = local.selector
    }
  }
}
