# The producer-consumer system (stacks/upload-form.toml merged with
# stacks/producer-consumer.toml) for the hashicorp/aws provider, resource for resource, with
# the same names ("${stack}-${stage}-...") and attributes, pointed at the local emulator.
# Where strata has one resource that makes several API objects, Terraform needs several
# resources: s3.bucket = bucket + SSE + public access block; iam.role = role + inline
# policy; apigateway.rest_api = API + resource + 2 methods + 2 integrations + deployment +
# stage. Used by bench/compare.sh; not meant for real AWS (static test credentials).

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
    apigateway = var.endpoint
    cloudtrail = var.endpoint
    iam        = var.endpoint
    lambda     = var.endpoint
    s3         = var.endpoint
    sqs        = var.endpoint
    sts        = var.endpoint
  }
}

# ${aws.account_id} and ${aws.partition} in the strata stack.
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  stack  = "producer-consumer"
  prefix = "${local.stack}-${var.stage}"
  tags   = { stack = local.stack, stage = var.stage }

  account_id = data.aws_caller_identity.current.account_id
  trail_arn  = "arn:${data.aws_partition.current.partition}:cloudtrail:us-east-1:${local.account_id}:trail/${local.prefix}-trail"

  block_all_public_access = {
    block_public_acls       = true
    ignore_public_acls      = true
    block_public_policy     = true
    restrict_public_buckets = true
  }
}

# --- content bucket (upload-form.toml) ---------------------------------------------------

resource "aws_s3_bucket" "content" {
  bucket        = "${local.prefix}-content-${local.account_id}"
  force_destroy = true
  tags          = local.tags
}

resource "aws_s3_bucket_server_side_encryption_configuration" "content" {
  bucket = aws_s3_bucket.content.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "content" {
  bucket                  = aws_s3_bucket.content.id
  block_public_acls       = local.block_all_public_access.block_public_acls
  ignore_public_acls      = local.block_all_public_access.ignore_public_acls
  block_public_policy     = local.block_all_public_access.block_public_policy
  restrict_public_buckets = local.block_all_public_access.restrict_public_buckets
}

resource "aws_s3_bucket_policy" "content" {
  bucket = aws_s3_bucket.content.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.content.arn, "${aws_s3_bucket.content.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
}

# --- presign function ---------------------------------------------------------------------

resource "aws_iam_role" "presign" {
  name                 = "${local.prefix}-presign"
  description          = "Lets the presign function sign S3 URLs for input/ objects"
  max_session_duration = 3600
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy" "presign_objects" {
  name = "presign-objects"
  role = aws_iam_role.presign.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["s3:PutObject", "s3:GetObject"]
      Resource = "${aws_s3_bucket.content.arn}/input/*"
    }]
  })
}

resource "aws_lambda_function" "presign" {
  function_name    = "${local.prefix}-presign"
  runtime          = "python3.12"
  handler          = "index.handler"
  role             = aws_iam_role.presign.arn
  filename         = var.lambda_zip
  source_code_hash = filebase64sha256(var.lambda_zip)
  timeout          = 10
  memory_size      = 128
  architectures    = ["x86_64"]
  environment {
    variables = {
      S3_BUCKET          = aws_s3_bucket.content.id
      URL_EXPIRY_SECONDS = "100"
    }
  }
  tags = local.tags
}

# --- REST endpoint: the LambdaRestApi shape (ANY / and ANY /{proxy+}, Lambda proxy) -------

resource "aws_api_gateway_rest_api" "upload" {
  name        = "${local.prefix}-upload"
  description = "POST {action, object_key} to get a presigned S3 URL"
  endpoint_configuration {
    types = ["REGIONAL"]
  }
  tags = local.tags
}

resource "aws_api_gateway_resource" "proxy" {
  rest_api_id = aws_api_gateway_rest_api.upload.id
  parent_id   = aws_api_gateway_rest_api.upload.root_resource_id
  path_part   = "{proxy+}"
}

resource "aws_api_gateway_method" "root_any" {
  rest_api_id   = aws_api_gateway_rest_api.upload.id
  resource_id   = aws_api_gateway_rest_api.upload.root_resource_id
  http_method   = "ANY"
  authorization = "NONE"
}

resource "aws_api_gateway_method" "proxy_any" {
  rest_api_id   = aws_api_gateway_rest_api.upload.id
  resource_id   = aws_api_gateway_resource.proxy.id
  http_method   = "ANY"
  authorization = "NONE"
}

resource "aws_api_gateway_integration" "root_any" {
  rest_api_id             = aws_api_gateway_rest_api.upload.id
  resource_id             = aws_api_gateway_rest_api.upload.root_resource_id
  http_method             = aws_api_gateway_method.root_any.http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = aws_lambda_function.presign.invoke_arn
}

resource "aws_api_gateway_integration" "proxy_any" {
  rest_api_id             = aws_api_gateway_rest_api.upload.id
  resource_id             = aws_api_gateway_resource.proxy.id
  http_method             = aws_api_gateway_method.proxy_any.http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = aws_lambda_function.presign.invoke_arn
}

# A new deployment whenever the model changes, as strata's rest_api does.
resource "aws_api_gateway_deployment" "upload" {
  rest_api_id = aws_api_gateway_rest_api.upload.id
  triggers = {
    redeployment = sha1(jsonencode([
      aws_api_gateway_resource.proxy.id,
      aws_api_gateway_method.root_any.id,
      aws_api_gateway_method.proxy_any.id,
      aws_api_gateway_integration.root_any.id,
      aws_api_gateway_integration.proxy_any.id,
    ]))
  }
  lifecycle {
    create_before_destroy = true
  }
  depends_on = [aws_api_gateway_integration.root_any, aws_api_gateway_integration.proxy_any]
}

resource "aws_api_gateway_stage" "prod" {
  rest_api_id   = aws_api_gateway_rest_api.upload.id
  deployment_id = aws_api_gateway_deployment.upload.id
  stage_name    = "prod"
  tags          = local.tags
}

resource "aws_lambda_permission" "upload_api_invoke" {
  function_name = aws_lambda_function.presign.function_name
  action        = "lambda:InvokeFunction"
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.upload.execution_arn}/*/*/*"
}

# --- audit trail (producer-consumer.toml) -------------------------------------------------

resource "aws_s3_bucket" "trail" {
  bucket        = "${local.prefix}-trail-${local.account_id}"
  force_destroy = true
  tags          = local.tags
}

resource "aws_s3_bucket_server_side_encryption_configuration" "trail" {
  bucket = aws_s3_bucket.trail.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "trail" {
  bucket                  = aws_s3_bucket.trail.id
  block_public_acls       = local.block_all_public_access.block_public_acls
  ignore_public_acls      = local.block_all_public_access.ignore_public_acls
  block_public_policy     = local.block_all_public_access.block_public_policy
  restrict_public_buckets = local.block_all_public_access.restrict_public_buckets
}

resource "aws_s3_bucket_policy" "trail" {
  bucket = aws_s3_bucket.trail.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "CloudTrailAclCheck"
        Effect    = "Allow"
        Principal = { Service = "cloudtrail.amazonaws.com" }
        Action    = "s3:GetBucketAcl"
        Resource  = aws_s3_bucket.trail.arn
        Condition = { StringEquals = { "aws:SourceArn" = local.trail_arn } }
      },
      {
        Sid       = "CloudTrailWrite"
        Effect    = "Allow"
        Principal = { Service = "cloudtrail.amazonaws.com" }
        Action    = "s3:PutObject"
        Resource  = "${aws_s3_bucket.trail.arn}/AWSLogs/${local.account_id}/*"
        Condition = {
          StringEquals = {
            "s3:x-amz-acl"  = "bucket-owner-full-control"
            "aws:SourceArn" = local.trail_arn
          }
        }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.trail.arn, "${aws_s3_bucket.trail.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
}

resource "aws_cloudtrail" "trail" {
  name                          = "${local.prefix}-trail"
  s3_bucket_name                = aws_s3_bucket.trail.id
  include_global_service_events = false
  is_multi_region_trail         = false
  enable_log_file_validation    = false
  enable_logging                = true
  event_selector {
    read_write_type           = "All"
    include_management_events = false
    data_resource {
      type   = "AWS::S3::Object"
      values = ["${aws_s3_bucket.content.arn}/"]
    }
  }
  tags       = local.tags
  depends_on = [aws_s3_bucket_policy.trail]
}

# --- queues -------------------------------------------------------------------------------

resource "aws_sqs_queue" "dead_letter" {
  name                      = "${local.prefix}-content-dlq"
  message_retention_seconds = 1209600
  tags                      = local.tags
}

resource "aws_sqs_queue" "content" {
  name                       = "${local.prefix}-content"
  message_retention_seconds  = 1209600
  visibility_timeout_seconds = 360
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = 5
  })
  tags = local.tags
}

# S3 may send to the queue only for this bucket, in this account.
resource "aws_sqs_queue_policy" "content" {
  queue_url = aws_sqs_queue.content.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AllowS3Notifications"
      Effect    = "Allow"
      Principal = { Service = "s3.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.content.arn
      Condition = {
        ArnLike      = { "aws:SourceArn" = aws_s3_bucket.content.arn }
        StringEquals = { "aws:SourceAccount" = local.account_id }
      }
    }]
  })
}

resource "aws_s3_bucket_notification" "content" {
  bucket = aws_s3_bucket.content.id
  queue {
    id            = "content-input"
    queue_arn     = aws_sqs_queue.content.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = "input/"
  }
  depends_on = [aws_sqs_queue_policy.content]
}
