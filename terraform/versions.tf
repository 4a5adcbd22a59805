terraform {
  # 1.5+: optional() object attributes with defaults and the validation functions used in
  # variables.tf.
  required_version = ">= 1.5.0"

  required_providers {
    kubernetes = {
      source = "hashicorp/kubernetes"
      # 3.x has every *_v1 / *_v2 resource used here (HPA autoscaling/v2, PDB policy/v1).
      # Minor upgrades within 3.x are allowed; a major one must be a deliberate edit here and
      # in .terraform.lock.hcl.
      version = "~> 3.2"
    }
  }
}
