//! CloudFormation's registry calls (`DescribeType`), signed by hand: a query-protocol POST
//! signed with SigV4 and sent with reqwest, with the SDK configuration's credentials,
//! region and endpoint. `aws-sdk-cloudformation` would add about 50 s to a cold build for
//! the one call strata makes.
//!
//! The endpoint is `AWS_ENDPOINT_URL_CLOUDFORMATION`, else the one every client uses
//! (`--endpoint-url`, `--local`, `AWS_ENDPOINT_URL`), else CloudFormation's public endpoint
//! in the region's partition. A call is a read: a lost reply, a throttle or a 5xx is asked
//! again, up to the SDK's number of attempts.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4::SigningParams;

use super::error::{AwsError, ErrorKind};
use super::retry::{SDK_FIRST_BACKOFF, SDK_MAX_ATTEMPTS, SDK_MAX_BACKOFF};

/// CloudFormation's query API, as this run reaches it.
#[derive(Clone, Debug)]
pub struct CloudFormation {
    http: reqwest::Client,
    credentials: Option<SharedCredentialsProvider>,
    region: String,
    endpoint: String,
}

/// The partition of a region, by its name (the SDK's partition table does the same).
fn partition_of(region: &str) -> &'static str {
    let prefixes = [
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-iso-", "aws-iso"),
        ("eu-isoe-", "aws-iso-e"),
        ("us-isof-", "aws-iso-f"),
        ("eusc-", "aws-eusc"),
    ];
    prefixes
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, partition)| partition)
}

impl CloudFormation {
    pub fn new(
        credentials: Option<SharedCredentialsProvider>,
        region: &str,
        endpoint: Option<&str>,
    ) -> CloudFormation {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_CLOUDFORMATION")
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| endpoint.map(str::to_string))
            .unwrap_or_else(|| {
                format!(
                    "https://cloudformation.{region}.{}",
                    super::dns_suffix(partition_of(region))
                )
            });
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        CloudFormation {
            http,
            credentials,
            region: region.to_string(),
            endpoint: format!("{}/", endpoint.trim_end_matches('/')),
        }
    }

    /// Calls `action` with `params`; the answer's XML body, or its error.
    pub async fn call(
        &self,
        action: &'static str,
        params: &[(&str, &str)],
    ) -> Result<String, AwsError> {
        let mut attempt = 1;
        let mut backoff = SDK_FIRST_BACKOFF;
        loop {
            match self.once(action, params).await {
                Err(e) if e.kind == ErrorKind::Transient && attempt < SDK_MAX_ATTEMPTS as usize => {
                    super::observe::retrying(format!("{e}; asking again"));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(SDK_MAX_BACKOFF);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn once(
        &self,
        action: &'static str,
        params: &[(&str, &str)],
    ) -> Result<String, AwsError> {
        let mut form = url_encoded(&[("Action", action), ("Version", "2010-05-15")]);
        form.push('&');
        form.push_str(&url_encoded(params));
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let mut request = self
            .http
            .post(&self.endpoint)
            .header("content-type", content_type);
        if let Some(provider) = &self.credentials {
            let credentials = provider.provide_credentials().await.map_err(|e| AwsError {
                kind: ErrorKind::Credentials,
                ..AwsError::new(action, format!("no credentials: {e}"))
            })?;
            let identity: aws_smithy_runtime_api::client::identity::Identity = credentials.into();
            let params: aws_sigv4::http_request::SigningParams<'_> = SigningParams::builder()
                .identity(&identity)
                .region(&self.region)
                .name("cloudformation")
                .time(SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .map_err(|e| AwsError::new(action, format!("cannot sign: {e}")))?
                .into();
            let signable = SignableRequest::new(
                "POST",
                &self.endpoint,
                [("content-type", content_type)].into_iter(),
                SignableBody::Bytes(form.as_bytes()),
            )
            .map_err(|e| AwsError::new(action, format!("cannot sign: {e}")))?;
            let (instructions, _) = sign(signable, &params)
                .map_err(|e| AwsError::new(action, format!("cannot sign: {e}")))?
                .into_parts();
            for (name, value) in instructions.headers() {
                request = request.header(name, value);
            }
        }
        let transient = |message: String| AwsError {
            kind: ErrorKind::Transient,
            ..AwsError::new(action, message)
        };
        let answer = request
            .body(form)
            .send()
            .await
            .map_err(|e| transient(format!("{}: {e}", self.endpoint)))?;
        let status = answer.status().as_u16();
        let body = answer
            .text()
            .await
            .map_err(|e| transient(format!("the answer was cut off: {e}")))?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let code = xml_text(&body, "Code");
        let message = xml_text(&body, "Message").unwrap_or_else(|| format!("HTTP {status}"));
        let throttled = code.as_deref().is_some_and(|c| c.starts_with("Throttling"));
        let denied = code
            .as_deref()
            .is_some_and(|c| c.starts_with("AccessDenied") || c == "UnauthorizedOperation");
        let mut message = match &code {
            Some(code) => format!("{code}: {message}"),
            None => message,
        };
        if denied {
            message.push_str(super::error::ACCESS_DENIED_HINT);
        }
        Err(AwsError {
            operation: action,
            code,
            message,
            status: Some(status),
            kind: if status >= 500 || throttled {
                ErrorKind::Transient
            } else {
                ErrorKind::Service
            },
        })
    }
}

fn url_encoded(params: &[(&str, &str)]) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    // RFC 3986's unreserved characters stay as they are, as SigV4 wants.
    const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, ENCODE),
                utf8_percent_encode(v, ENCODE)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The text of the first `<tag>` element of a query-protocol answer, unescaped. The
/// answers strata reads hold each element it asks for once, with text only.
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(unescape(&xml[start..end]))
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else {
            break;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_and_unescaped_and_regions_name_their_partition() {
        let xml = "<R><Schema>{&quot;a&quot;: &quot;&lt;b&gt; &amp; &#10;&#x41;&quot;}</Schema><Code>X</Code></R>";
        assert_eq!(xml_text(xml, "Schema").unwrap(), "{\"a\": \"<b> & \nA\"}");
        assert_eq!(xml_text(xml, "Code").unwrap(), "X");
        assert_eq!(xml_text(xml, "Message"), None);
        assert_eq!(partition_of("cn-north-1"), "aws-cn");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition_of("eu-west-1"), "aws");
        assert_eq!(
            url_encoded(&[("TypeName", "AWS::SNS::Topic"), ("Type", "RESOURCE")]),
            "TypeName=AWS%3A%3ASNS%3A%3ATopic&Type=RESOURCE"
        );
    }
}
