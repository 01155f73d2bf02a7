//! The producer-consumer-lambda stack: the consumer runs in Lambda, fed by the queue through
//! an event source mapping, and records every payload in a DynamoDB table. A payload sent
//! by the producer (no AWS credentials) gets its row, with the size and SHA-256 of what was
//! stored; destroy leaves none of the new objects behind (the consumer's log group
//! included, which Lambda wrote to).

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::common::{Workspace, assert_exit};
use crate::deployed::{Deployed, payload};

#[tokio::test(flavor = "multi_thread")]
async fn a_sent_payload_gets_its_row_from_the_consumer_function() {
    let ws = Workspace::new().with_stacks();
    let aws = ws.clients().await;
    let stack = ws.stack("producer-consumer-lambda");
    ws.ok(&["apply", &stack, "--auto-approve"]);
    let d = Deployed { ws, stack };
    let table = d.output("payload_table");
    assert_eq!(table, "producer-consumer-lambda-dev-payloads");

    let data = payload(300_000, 7);
    let file = d.path().join("order 1.bin");
    std::fs::write(&file, &data).unwrap();
    assert_exit(&d.send(&[file.to_str().unwrap()]), 0);

    // The mapping polls the queue; the function reads the object and writes the row.
    let mut row = None;
    for _ in 0..120 {
        let got = aws
            .dynamodb
            .get_item()
            .table_name(&table)
            .key(
                "object_key",
                aws_sdk_dynamodb::types::AttributeValue::S("input/order 1.bin".into()),
            )
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        if let Some(item) = got.item {
            row = Some(item);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let row = row.expect("the consumer function recorded the payload within 60 s");
    let text = |name: &str| match row.get(name) {
        Some(aws_sdk_dynamodb::types::AttributeValue::S(s)) => s.clone(),
        Some(aws_sdk_dynamodb::types::AttributeValue::N(n)) => n.clone(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(text("size"), "300000");
    assert_eq!(text("sha256"), hex(&Sha256::digest(&data)));
    assert_eq!(text("bucket"), d.output("content_bucket"));

    // The message was consumed: nothing is left on the queue or its dead-letter queue.
    for queue in ["queue_url", "dead_letter_queue_url"] {
        let attrs = aws
            .sqs
            .get_queue_attributes()
            .queue_url(d.output(queue))
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap();
        let count = attrs
            .attributes()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            })
            .cloned();
        assert_eq!(count.as_deref(), Some("0"), "{queue}");
    }

    // Destroy leaves no table, log group, topic or alarm behind.
    d.ws.ok(&["destroy", &d.stack, "--auto-approve"]);
    let tables = aws.dynamodb.list_tables().send().await.unwrap();
    assert!(tables.table_names().is_empty(), "{tables:?}");
    let groups = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix("/aws/lambda/producer-consumer-lambda-dev-consumer")
        .send()
        .await
        .unwrap();
    assert!(groups.log_groups().is_empty(), "{groups:?}");
    let topics = aws.sns.list_topics().send().await.unwrap();
    assert!(topics.topics().is_empty(), "{topics:?}");
    let alarms = aws.cloudwatch.describe_alarms().send().await.unwrap();
    assert!(alarms.metric_alarms().is_empty(), "{alarms:?}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
