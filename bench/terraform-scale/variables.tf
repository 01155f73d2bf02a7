# Inputs of the Terraform twin of the generated scale stack. bench/scale-terraform.sh sets
# endpoint and size; `stage` defaults as the strata stack's variable does.

variable "endpoint" {
  description = "Endpoint of the local AWS emulator (or the proxy in front of it); every service is sent there"
  type        = string
}

variable "size" {
  description = "Number of resources, as given to bench/generate-scale-stack.py (an even number, at least 2)"
  type        = number
}

variable "stage" {
  description = "Deployment stage (the strata stack's `stage` variable)"
  type        = string
  default     = "dev"
}
