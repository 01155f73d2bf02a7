# A conftest-style policy on strata's plan in Terraform's shape
# (`strata plan --json --format terraform-compatible`): every S3 bucket the plan creates or
# changes must block public access with all four settings of its `public_access_block`.
#
#   strata plan --json --format terraform-compatible > plan.json
#   conftest test plan.json --policy policies/
package main

import rego.v1

settings := ["block_public_acls", "ignore_public_acls", "block_public_policy", "restrict_public_buckets"]

# The buckets the plan writes (a delete leaves nothing to judge).
written contains rc if {
	some rc in input.resource_changes
	rc.mode == "managed"
	rc.type == "s3.bucket"
	some action in rc.change.actions
	action in {"create", "update"}
}

deny contains msg if {
	some rc in written
	not rc.change.after.public_access_block
	msg := sprintf("%s: the bucket does not block public access (set public_access_block with all four settings true)", [rc.address])
}

deny contains msg if {
	some rc in written
	block := rc.change.after.public_access_block
	some setting in settings
	block[setting] != true
	msg := sprintf("%s: public_access_block.%s is not true", [rc.address, setting])
}
