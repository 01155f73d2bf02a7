# The generated scale stack (bench/generate-scale-stack.py) for the hashicorp/aws provider,
# with for_each: the same resources, names ("scale<N>-<stage>-...") and attributes, pointed
# at the local emulator. Used by bench/scale-terraform.sh; not meant for real AWS (static
# test credentials).
#
# Resource for resource: strata's s3.bucket sets only name, force_destroy and tags here, so
# aws_s3_bucket alone is its equivalent. (strata's bucket also puts the default encryption,
# AES256, which AWS applies to every new bucket anyway: one call more per bucket on
# strata's side, no extra Terraform resource.) sqs.queue = aws_sqs_queue, sqs.queue_policy =
# aws_sqs_queue_policy, s3.bucket_notification = aws_s3_bucket_notification.
#
# One difference the language imposes: a reference or depends_on names a whole for_each
# resource, so in Terraform's graph every notification waits for all the queue policies
# (strata's q<i>_policy -> b<i>_notification edge is per group).

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
}

provider "aws" {
  region     = "us-east-1"
  access_key = "test"
  secret_key = "test"

  # The emulator: no real credentials, no instance metadata, path-style S3 URLs.
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true
  s3_use_path_style           = true

  endpoints {
    s3  = var.endpoint
    sqs = var.endpoint
    sts = var.endpoint
  }
}

# ${aws.account_id} in the strata stack.
data "aws_caller_identity" "current" {}

locals {
  stack  = "scale${var.size}"
  prefix = "${local.stack}-${var.stage}"

  # Groups of four (bucket, queue, queue policy, notification); a size that is not a
  # multiple of four is filled with queue + queue policy pairs, as the generator does.
  groups  = floor(var.size / 4)
  pairs   = floor((var.size % 4) / 2)
  buckets = toset([for i in range(local.groups) : tostring(i)])
  queues  = toset([for i in range(local.groups + local.pairs) : tostring(i)])

  account_id = data.aws_caller_identity.current.account_id
}

resource "aws_s3_bucket" "b" {
  for_each      = local.buckets
  bucket        = "${local.prefix}-b${each.key}-${local.account_id}"
  force_destroy = true
  tags          = { stack = local.stack, n = each.key }
}

resource "aws_sqs_queue" "q" {
  for_each                   = local.queues
  name                       = "${local.prefix}-q${each.key}"
  visibility_timeout_seconds = 60
  tags                       = { stack = local.stack, n = each.key }
}

# With a bucket, the policy allows only that bucket (as in producer-consumer.toml); without
# one (the filler pairs), any bucket of this account.
resource "aws_sqs_queue_policy" "q" {
  for_each  = local.queues
  queue_url = aws_sqs_queue.q[each.key].url
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AllowS3"
      Effect    = "Allow"
      Principal = { Service = "s3.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.q[each.key].arn
      Condition = {
        ArnLike      = { "aws:SourceArn" = try(aws_s3_bucket.b[each.key].arn, "arn:aws:s3:::*") }
        StringEquals = { "aws:SourceAccount" = local.account_id }
      }
    }]
  })
}

resource "aws_s3_bucket_notification" "b" {
  for_each = local.buckets
  bucket   = aws_s3_bucket.b[each.key].id

  queue {
    id            = "input"
    queue_arn     = aws_sqs_queue.q[each.key].arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = "input/"
  }

  depends_on = [aws_sqs_queue_policy.q]
}
