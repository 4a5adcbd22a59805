output "namespace" {
  description = "Namespace the service runs in."
  value       = kubernetes_namespace_v1.this.metadata[0].name
}

output "deployment_name" {
  description = "Name of the Deployment (for kubectl rollout status)."
  value       = kubernetes_deployment_v1.this.metadata[0].name
}

output "service_name" {
  description = "Name of the ClusterIP Service."
  value       = kubernetes_service_v1.this.metadata[0].name
}

output "service_url" {
  description = "In-cluster base URL of the API."
  value       = "http://${kubernetes_service_v1.this.metadata[0].name}.${kubernetes_namespace_v1.this.metadata[0].name}.svc.cluster.local"
}

output "termination_grace_period_seconds" {
  description = "Derived pod termination grace: pre-drain + grace + margin."
  value       = local.termination_grace_period_seconds
}
