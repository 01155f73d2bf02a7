//! What a message on the content queue can be: an S3 event (one or more records), S3's
//! test event, or a claim-check pointer sent by an AWS SQS Extended Client library.

use serde_json::Value as Json;

#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    /// Sent once when a notification configuration is written; nothing to fetch.
    TestEvent,
    /// Objects created in the content bucket.
    Objects(Vec<ObjectRef>),
    /// A payload stored by an SQS Extended Client, fetched from S3 with credentials.
    Pointer {
        bucket: String,
        key: String,
        size: Option<u64>,
    },
    Unknown(String),
}

#[derive(Debug, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    pub size: Option<u64>,
    /// The ETag of the object version the event is about (bare, as events carry it): the
    /// download asks for that version only (`If-Match`).
    pub etag: Option<String>,
}

const POINTER_CLASSES: &[&str] = &[
    "software.amazon.payloadoffloading.PayloadS3Pointer",
    "com.amazon.sqs.javamessaging.MessageS3Pointer",
];

/// Parses a message body; `size_attribute` is the Extended Client's size attribute
/// (`ExtendedPayloadSize` or the legacy `SQSLargePayloadSize`), if present.
pub fn parse(body: &str, size_attribute: Option<u64>) -> Message {
    let Ok(json) = serde_json::from_str::<Json>(body) else {
        return Message::Unknown(short(body));
    };
    if json.get("Event").and_then(Json::as_str) == Some("s3:TestEvent") {
        return Message::TestEvent;
    }
    if let Some(records) = json.get("Records").and_then(Json::as_array) {
        let objects = records
            .iter()
            .filter_map(|r| {
                let s3 = r.get("s3")?;
                Some(ObjectRef {
                    bucket: s3.get("bucket")?.get("name")?.as_str()?.to_string(),
                    key: decode_key(s3.get("object")?.get("key")?.as_str()?),
                    size: s3.get("object")?.get("size").and_then(Json::as_u64),
                    etag: s3
                        .get("object")?
                        .get("eTag")
                        .and_then(Json::as_str)
                        .map(super::integrity::bare_etag)
                        .filter(|e| !e.is_empty()),
                })
            })
            .collect();
        return Message::Objects(objects);
    }
    if let Some([class, pointer]) = json.as_array().map(Vec::as_slice)
        && class.as_str().is_some_and(|c| POINTER_CLASSES.contains(&c))
        && let (Some(bucket), Some(key)) = (
            pointer.get("s3BucketName").and_then(Json::as_str),
            pointer.get("s3Key").and_then(Json::as_str),
        )
    {
        return Message::Pointer {
            bucket: bucket.to_string(),
            key: key.to_string(),
            size: size_attribute,
        };
    }
    Message::Unknown(short(body))
}

fn short(body: &str) -> String {
    body.chars().take(120).collect()
}

/// An S3 event's object key as it was written: S3 event notifications URL-encode keys
/// the way HTML forms do, with `+` for a space and `%2B` for a plus. A `%` that starts no
/// escape is kept as it is; bytes that are not UTF-8 become U+FFFD.
pub fn decode_key(key: &str) -> String {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_event_with_several_records_and_encoded_keys() {
        let body = r#"{"Records":[
            {"eventVersion":"2.1","s3":{"bucket":{"name":"b"},"object":{"key":"input/a+b%C3%A9.bin","size":5,"eTag":"0123456789ABCDEF0123456789abcdef"}}},
            {"eventVersion":"2.1","s3":{"bucket":{"name":"b"},"object":{"key":"input/plain","size":0}}}]}"#;
        assert_eq!(
            parse(body, None),
            Message::Objects(vec![
                ObjectRef {
                    bucket: "b".into(),
                    key: "input/a bé.bin".into(),
                    size: Some(5),
                    etag: Some("0123456789abcdef0123456789abcdef".into()),
                },
                ObjectRef {
                    bucket: "b".into(),
                    key: "input/plain".into(),
                    size: Some(0),
                    etag: None,
                },
            ])
        );
    }

    #[test]
    fn test_event_pointers_and_garbage() {
        assert_eq!(
            parse(
                r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#,
                None
            ),
            Message::TestEvent
        );
        let new = r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"b","s3Key":"k1"}]"#;
        assert_eq!(
            parse(new, Some(300)),
            Message::Pointer {
                bucket: "b".into(),
                key: "k1".into(),
                size: Some(300)
            }
        );
        let legacy = r#"["com.amazon.sqs.javamessaging.MessageS3Pointer",{"s3BucketName":"b","s3Key":"k2"}]"#;
        assert!(matches!(parse(legacy, None), Message::Pointer { .. }));
        assert!(matches!(parse("hello", None), Message::Unknown(_)));
        assert!(matches!(
            parse(r#"["other.Class",{}]"#, None),
            Message::Unknown(_)
        ));
    }

    #[test]
    fn decodes_percent_and_plus_but_keeps_broken_escapes() {
        assert_eq!(decode_key("a%20b+c"), "a b c");
        assert_eq!(decode_key("100%"), "100%");
        assert_eq!(decode_key("x%zz"), "x%zz");
        assert_eq!(decode_key("x%4"), "x%4");
    }

    #[test]
    fn plus_is_a_space_and_an_encoded_plus_is_a_plus() {
        assert_eq!(decode_key("a+b%2Bc"), "a b+c");
        assert_eq!(decode_key("%2B+%2b"), "+ +");
        // The hand-written decoder read `%+1` as the byte 0x01 (`from_str_radix` takes a sign).
        assert_eq!(decode_key("%+1"), "% 1");
    }

    #[test]
    fn unicode_keys_decode_from_their_utf8_escapes() {
        assert_eq!(
            decode_key("input/my+report/%C3%9Cn%C3%AFc%C3%B6d%C3%A9+%E6%9D%B1%E4%BA%AC.txt"),
            "input/my report/Ünïcödé 東京.txt"
        );
        // Already-decoded characters pass through; a lone byte that is not UTF-8 is replaced.
        assert_eq!(decode_key("gr%C3%BC%C3%9Fe-東京"), "grüße-東京");
        assert_eq!(decode_key("bad%FF"), "bad\u{FFFD}");
    }
}
