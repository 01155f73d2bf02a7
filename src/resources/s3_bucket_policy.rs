//! `s3.bucket_policy`: the policy document of one bucket.

use crate::schema::{Schema, Type, attr};

pub const SCHEMA: Schema = Schema {
    type_name: "s3.bucket_policy",
    description: "the policy of an S3 bucket",
    attributes: &[
        attr("bucket", Type::String(None)).required().force_new(),
        attr("policy", Type::Policy).required(),
    ],
    computed: &[],
};
