# Inputs of the Terraform twin of stacks/producer-consumer.toml. bench/compare.sh sets all
# three; `stage` defaults as the strata stack's variable does.

variable "endpoint" {
  description = "Endpoint of the local AWS emulator, e.g. http://127.0.0.1:4566; every service is sent there"
  type        = string
}

variable "stage" {
  description = "Deployment stage (the strata stack's `stage` variable)"
  type        = string
  default     = "dev"
}

variable "lambda_zip" {
  description = "Zip of stacks/functions/presign, built deterministically by the bench (the archive provider is not in the local mirror)"
  type        = string
}
