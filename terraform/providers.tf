# Credentials come from a kubeconfig, never from this code. In CI, point kubeconfig_path at the
# file your pipeline writes (or set KUBE_CONFIG_PATH and leave the variable null).
provider "kubernetes" {
  config_path    = var.kubeconfig_path
  config_context = var.kube_context
}
