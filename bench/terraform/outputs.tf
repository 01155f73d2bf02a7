# The strata stack's outputs.

output "api_url" {
  description = "POST here for presigned URLs"
  value       = "${trimsuffix(var.endpoint, "/")}/_aws/execute-api/${aws_api_gateway_rest_api.upload.id}/${aws_api_gateway_stage.prod.stage_name}"
}

output "content_bucket" {
  value = aws_s3_bucket.content.id
}

output "queue_url" {
  value = aws_sqs_queue.content.id
}

output "dead_letter_queue_url" {
  value = aws_sqs_queue.dead_letter.id
}
