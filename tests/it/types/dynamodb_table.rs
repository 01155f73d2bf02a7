//! `dynamodb.table` on the emulator.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};

use super::{Lifecycle, actions, assert_invalid, generated_policy_suffices};

const ADDRESS: &str = "dynamodb.table.orders";

fn table(name: &str, extra: &str) -> String {
    format!(
        r#"
[resources.orders]
type = "dynamodb.table"
name = "{name}"
{extra}
"#
    )
}

/// A table's settings as the SDK reads them back.
#[derive(Debug, PartialEq)]
struct Live {
    keys: Vec<(String, String, String)>,
    billing: String,
    capacity: Option<(i64, i64)>,
    stream: Option<String>,
    stream_arn: bool,
    deletion_protection: bool,
    ttl: Option<String>,
    recovery: bool,
    tags: Vec<(String, String)>,
}

async fn live_table(aws: &strata::aws::Clients, name: &str) -> Option<Live> {
    let ddb = &aws.dynamodb;
    let table = match ddb.describe_table().table_name(name).send().await {
        Ok(out) => out.table.unwrap(),
        Err(e) => {
            let e = strata::aws::sdk("DescribeTable")(e);
            assert!(e.is_not_found(), "{e}");
            return None;
        }
    };
    let keys = table
        .key_schema()
        .iter()
        .map(|k| {
            let ty = table
                .attribute_definitions()
                .iter()
                .find(|d| d.attribute_name() == k.attribute_name())
                .unwrap()
                .attribute_type()
                .as_str()
                .to_string();
            (
                k.key_type().as_str().to_string(),
                k.attribute_name().to_string(),
                ty,
            )
        })
        .collect();
    let billing = table
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .map_or("PROVISIONED", |b| b.as_str())
        .to_string();
    let capacity = (billing == "PROVISIONED").then(|| {
        let pt = table.provisioned_throughput().unwrap();
        (
            pt.read_capacity_units().unwrap(),
            pt.write_capacity_units().unwrap(),
        )
    });
    let spec = table.stream_specification().filter(|s| s.stream_enabled());
    let ttl = ddb
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    let recovery = ddb
        .describe_continuous_backups()
        .table_name(name)
        .send()
        .await
        .unwrap()
        .continuous_backups_description
        .unwrap()
        .point_in_time_recovery_description
        .unwrap()
        .point_in_time_recovery_status
        .unwrap();
    let mut tags: Vec<(String, String)> = ddb
        .list_tags_of_resource()
        .resource_arn(table.table_arn().unwrap())
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    tags.sort();
    Some(Live {
        keys,
        billing,
        capacity,
        stream: spec
            .and_then(|s| s.stream_view_type())
            .map(|v| v.as_str().to_string()),
        stream_arn: spec.is_some() && table.latest_stream_arn().is_some(),
        deletion_protection: table.deletion_protection_enabled().unwrap_or(false),
        ttl: (ttl.time_to_live_status().map(|s| s.as_str()) == Some("ENABLED"))
            .then(|| ttl.attribute_name().unwrap().to_string()),
        recovery: recovery.as_str() == "ENABLED",
        tags,
    })
}

fn keys(pairs: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    pairs
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const FIRST: &str = r#"hash_key = "pk"
range_key = "sk"
attributes = { pk = "S", sk = "N" }
billing_mode = "PROVISIONED"
read_capacity = 5
write_capacity = 2
ttl_attribute = "expires"
point_in_time_recovery = true
stream_view_type = "NEW_IMAGE"
deletion_protection = true
tags = { team = "data" }"#;

const CHANGED: &str = r#"hash_key = "pk"
range_key = "sk"
attributes = { pk = "S", sk = "N" }
billing_mode = "PAY_PER_REQUEST"
ttl_attribute = "expires_at"
point_in_time_recovery = false
stream_view_type = "KEYS_ONLY"
deletion_protection = false
tags = { team = "ops" }"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_table_through_its_whole_lifecycle() {
    let life = Lifecycle::start().await;
    let aws = &life.aws;
    let name = "types-orders";

    // Apply: every declared attribute, read back.
    life.write(&table(name, FIRST));
    life.apply();
    assert_eq!(life.id("orders"), name);
    assert_eq!(
        live_table(aws, name).await,
        Some(Live {
            keys: keys(&[("HASH", "pk", "S"), ("RANGE", "sk", "N")]),
            billing: "PROVISIONED".into(),
            capacity: Some((5, 2)),
            stream: Some("NEW_IMAGE".into()),
            stream_arn: true,
            deletion_protection: true,
            ttl: Some("expires".into()),
            recovery: true,
            tags: pairs(&[("team", "data")]),
        })
    );
    life.assert_no_changes();
    let state = crate::common::read_state(life.dir(), "types", "default");
    let attributes = &state["resources"]["orders"]["attributes"];
    assert_eq!(
        attributes["arn"],
        format!("arn:aws:dynamodb:us-east-1:000000000000:table/{name}")
    );
    let stream_arn = attributes["stream_arn"].as_str().unwrap().to_string();
    assert!(
        stream_arn.starts_with(&format!(
            "arn:aws:dynamodb:us-east-1:000000000000:table/{name}/stream/"
        )),
        "{stream_arn}"
    );

    // Destroy refuses a protected table, and says how to unprotect it.
    let out = life.run(&["destroy", "stack.toml", "--auto-approve"]);
    crate::common::assert_exit(&out, 1);
    assert!(
        crate::common::stderr(&out).contains("set `deletion_protection = false`"),
        "{}",
        crate::common::stderr(&out)
    );
    assert!(live_table(aws, name).await.is_some());

    // In place: billing, TTL, recovery, stream, protection and tags; the table stays.
    life.write(&table(name, CHANGED));
    life.assert_plans(
        ADDRESS,
        "update",
        &[
            "billing_mode",
            "ttl_attribute",
            "point_in_time_recovery",
            "stream_view_type",
            "deletion_protection",
            "tags.team",
        ],
    );
    life.apply();
    assert_eq!(
        live_table(aws, name).await,
        Some(Live {
            keys: keys(&[("HASH", "pk", "S"), ("RANGE", "sk", "N")]),
            billing: "PAY_PER_REQUEST".into(),
            capacity: None,
            stream: Some("KEYS_ONLY".into()),
            stream_arn: true,
            deletion_protection: false,
            ttl: Some("expires_at".into()),
            recovery: false,
            tags: pairs(&[("team", "ops")]),
        })
    );
    life.assert_no_changes();

    // Drift made outside strata shows in the plan, and apply undoes it.
    aws.dynamodb
        .update_table()
        .table_name(name)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(
            aws_sdk_dynamodb::types::ProvisionedThroughput::builder()
                .read_capacity_units(1)
                .write_capacity_units(1)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    life.assert_plans(ADDRESS, "update", &["billing_mode"]);
    life.apply();
    assert_eq!(
        live_table(aws, name).await.unwrap().billing,
        "PAY_PER_REQUEST"
    );

    // Left out, TTL and the stream are switched off.
    let without = CHANGED
        .lines()
        .filter(|l| !l.starts_with("ttl_attribute") && !l.starts_with("stream_view_type"))
        .collect::<Vec<_>>()
        .join("\n");
    life.write(&table(name, &without));
    life.assert_plans(ADDRESS, "update", &["ttl_attribute", "stream_view_type"]);
    life.apply();
    let live = live_table(aws, name).await.unwrap();
    assert_eq!(
        (live.ttl, live.stream, live.stream_arn),
        (None, None, false)
    );
    life.assert_no_changes();

    // Import by ARN or name: the same id, and no change.
    for given in [
        format!("arn:aws:dynamodb:us-east-1:000000000000:table/{name}"),
        name.to_string(),
    ] {
        life.reimport("orders", &given, name);
    }

    // The key schema cannot change: the plan replaces the table and names the attribute.
    let rekeyed = without
        .replace("range_key = \"sk\"", "range_key = \"created\"")
        .replace(
            "attributes = { pk = \"S\", sk = \"N\" }",
            "attributes = { pk = \"S\", created = \"N\" }",
        );
    life.write(&table(name, &rekeyed));
    life.assert_replaces(
        ADDRESS,
        &["range_key", "attributes.created", "attributes.sk"],
    );
    let rehashed = without
        .replace("hash_key = \"pk\"", "hash_key = \"id\"")
        .replace("pk = \"S\"", "id = \"S\"");
    life.write(&table(name, &rehashed));
    life.assert_replaces(ADDRESS, &["hash_key", "attributes.id", "attributes.pk"]);
    life.write(&table(name, &rekeyed));
    life.apply();
    assert_eq!(
        live_table(aws, name).await.unwrap().keys,
        keys(&[("HASH", "pk", "S"), ("RANGE", "created", "N")])
    );

    // Destroy leaves nothing.
    life.destroy();
    assert_eq!(live_table(aws, name).await, None);

    // A table that exists outside the state is refused, and untouched.
    aws.dynamodb
        .create_table()
        .table_name(name)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    life.write(&table(
        name,
        "hash_key = \"pk\"\nattributes = { pk = \"S\" }\nbilling_mode = \"PAY_PER_REQUEST\"\nttl_attribute = \"expires\"\ntags = { team = \"data\" }",
    ));
    life.assert_takeover_refused("dynamodb.table", &format!("`{name}`"), name);
    let live = live_table(aws, name).await.unwrap();
    assert_eq!((live.ttl, live.tags), (None, Vec::new()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_generated_policy_covers_a_table() {
    let resources = table("types-orders", FIRST);
    let life = Lifecycle::start().await;
    life.write(&resources);
    let granted = actions(&life.policy());
    for action in [
        "dynamodb:CreateTable",
        "dynamodb:DeleteTable",
        "dynamodb:DescribeTable",
        "dynamodb:UpdateTable",
        "dynamodb:DescribeTimeToLive",
        "dynamodb:UpdateTimeToLive",
        "dynamodb:DescribeContinuousBackups",
        "dynamodb:UpdateContinuousBackups",
        "dynamodb:ListTagsOfResource",
        "dynamodb:TagResource",
        "dynamodb:UntagResource",
    ] {
        assert!(granted.iter().any(|a| a == action), "{action}: {granted:?}");
    }
    // Deletion protection would stop the policy's own destroy. The tagging calls name the
    // table by `ResourceArn`, which the emulator does not read: it authorizes them against
    // `*`.
    let unprotected = table(
        "types-orders",
        &FIRST.replace("deletion_protection = true", "deletion_protection = false"),
    );
    generated_policy_suffices(
        &unprotected,
        &[
            "dynamodb:ListTagsOfResource",
            "dynamodb:TagResource",
            "dynamodb:UntagResource",
        ],
    )
    .await;
}

#[test]
fn bad_tables_are_refused_before_any_aws_call() {
    let keyed =
        "hash_key = \"pk\"\nattributes = { pk = \"S\" }\nbilling_mode = \"PAY_PER_REQUEST\"";
    // The header is two lines; the resource's `name` is on line 6.
    assert_invalid(
        &table("ab", keyed),
        6,
        "2 characters long: expected 3 to 255 characters",
    );
    assert_invalid(
        &table("my table", keyed),
        6,
        "expected letters, digits, `_`, `.` and `-`",
    );
    assert_invalid(
        &table("orders", "hash_key = \"pk\"\nattributes = { pk = \"S\" }"),
        4,
        "a PROVISIONED table needs `read_capacity`",
    );
    assert_invalid(
        &table("orders", &format!("{keyed}\nread_capacity = 0")),
        10,
        "0 is out of range: expected 1 to",
    );
    assert_invalid(
        &table(
            "orders",
            "hash_key = \"pk\"\nattributes = { id = \"S\" }\nbilling_mode = \"PAY_PER_REQUEST\"",
        ),
        8,
        "the hash key `pk` has no type in `attributes`",
    );
    assert_invalid(
        &table(
            "orders",
            "hash_key = \"pk\"\nattributes = { pk = \"X\" }\nbilling_mode = \"PAY_PER_REQUEST\"",
        ),
        8,
        "`S`, `N`, `B`",
    );
    assert_invalid(
        &table("orders", &format!("{keyed}\nstream_view_type = \"ALL\"")),
        10,
        "`NEW_IMAGE`",
    );
    assert_invalid(
        &table("orders", &format!("{keyed}\nttl = \"x\"")),
        10,
        "unknown attribute `ttl`",
    );
}
