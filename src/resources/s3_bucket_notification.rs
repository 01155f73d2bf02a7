//! `s3.bucket_notification`: queue notifications of a bucket. The bucket holds one
//! notification configuration; this resource owns only the entries it wrote (by Id).

use crate::schema::{Attribute, Schema, Type, attr};

pub const EVENTS: &[&str] = &[
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put",
    "s3:Replication:*",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ReducedRedundancyLostObject",
];

pub const QUEUE_CONFIGURATION: &[Attribute] = &[
    attr("id", Type::String(None)),
    attr("queue_arn", Type::String(None)).required(),
    attr(
        "events",
        Type::List {
            item: &Type::Enum(EVENTS),
            min: 1,
        },
    )
    .required(),
    attr("prefix", Type::String(None)),
    attr("suffix", Type::String(None)),
];

pub const SCHEMA: Schema = Schema {
    type_name: "s3.bucket_notification",
    description: "queue notifications of an S3 bucket",
    attributes: &[
        attr("bucket", Type::String(None)).required().force_new(),
        attr(
            "queue",
            Type::List {
                item: &Type::Object(QUEUE_CONFIGURATION),
                min: 1,
            },
        )
        .required(),
    ],
    computed: &[],
};
