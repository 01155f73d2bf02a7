//! Helpers shared by the resource implementations: attribute access, not-found answers
//! ([`Gone`]), tag sync ([`sync_tags`]) and JSON documents. Retried sends are
//! [`crate::aws::retry::retry_send`].

use std::future::Future;

use indexmap::IndexMap;

use super::Resource;
use crate::aws::retry::{Backoff, wait_until};
use crate::aws::{AwsError, Clients, ErrorKind};
use crate::schema::{Schema, same, sealed};
use crate::value::{Attrs, Value};

/// A string attribute, or an error naming it (a validated stack always has required ones).
pub fn req_str<'a>(attrs: &'a Attrs, name: &str) -> Result<&'a str, AwsError> {
    attrs.get(name).and_then(Value::as_str).ok_or_else(|| {
        AwsError::new(
            "prepare",
            format!("attribute `{name}` is missing or unknown"),
        )
    })
}

pub fn opt_str<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a str> {
    attrs.get(name).and_then(Value::as_str)
}

pub fn opt_i64(attrs: &Attrs, name: &str) -> Option<i64> {
    attrs.get(name).and_then(Value::as_i64)
}

pub fn opt_bool(attrs: &Attrs, name: &str) -> Option<bool> {
    attrs.get(name).and_then(Value::as_bool)
}

/// Whether `desired` sets `name` to something `live` does not have.
pub fn changed(schema: &Schema, name: &str, desired: &Attrs, live: &Attrs) -> bool {
    let Some(attr) = schema.attribute(name) else {
        return false;
    };
    match desired.get(name) {
        Some(want) => !same(&attr.ty, want, live.get(name)),
        None => false,
    }
}

/// The strings of a list value (none when it is not a list).
pub fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_list)
        .unwrap_or(&[])
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// Tags as a sorted map of strings.
pub fn tags(attrs: &Attrs) -> IndexMap<String, String> {
    let mut out: IndexMap<String, String> = attrs
        .get("tags")
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default();
    out.sort_keys();
    out
}

/// Brings the tags from `live` to `desired` with the service's own calls: `untag` gets the
/// keys no longer wanted, `tag` the tags that are new or changed; neither is called when it
/// has nothing to do, nor at all when the stack does not set `tags`.
pub async fn sync_tags<U, T>(
    schema: &Schema,
    desired: &Attrs,
    live: &Attrs,
    untag: impl FnOnce(Vec<String>) -> U,
    tag: impl FnOnce(IndexMap<String, String>) -> T,
) -> Result<(), AwsError>
where
    U: Future<Output = Result<(), AwsError>>,
    T: Future<Output = Result<(), AwsError>>,
{
    if !changed(schema, "tags", desired, live) {
        return Ok(());
    }
    let wanted = tags(desired);
    let have = tags(live);
    let stale: Vec<String> = have
        .keys()
        .filter(|k| !wanted.contains_key(*k))
        .cloned()
        .collect();
    let new: IndexMap<String, String> = wanted
        .into_iter()
        .filter(|(k, v)| have.get(k) != Some(v))
        .collect();
    if !stale.is_empty() {
        untag(stale).await?;
    }
    if !new.is_empty() {
        tag(new).await?;
    }
    Ok(())
}

pub fn tags_value<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    let mut map: IndexMap<String, Value> = pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::Str(v.to_string())))
        .collect();
    map.sort_keys();
    Value::Map(map)
}

/// A JSON document (policy) from an attribute value.
pub fn json_of(attrs: &Attrs, name: &str) -> Result<String, AwsError> {
    let v = attrs
        .get(name)
        .ok_or_else(|| AwsError::new("prepare", format!("attribute `{name}` is missing")))?;
    if !v.is_known() {
        return Err(AwsError::new(
            "prepare",
            format!("attribute `{name}` is not known yet"),
        ));
    }
    Ok(v.to_json().to_string())
}

/// Parses a JSON document AWS returned (policies may come URL-encoded from IAM).
pub fn parse_json(text: &str) -> Value {
    serde_json::from_str(text)
        .map(|j| Value::from_json(&j))
        .unwrap_or_else(|_| Value::Str(text.to_string()))
}

/// Undoes percent-encoding (RFC 3986), as IAM applies to the policy documents it returns.
/// `+` stays a plus; a `%` not followed by two hex digits is kept as it is.
pub fn percent_decode(text: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(high * 16 + low);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// [`Resource::find`] for a type whose id is its `name`: the object of that name, if any.
pub async fn find_by_name(
    resource: &dyn Resource,
    aws: &Clients,
    desired: &Attrs,
) -> Result<Option<String>, AwsError> {
    let name = req_str(desired, "name")?;
    let found = resource.read(aws, name, desired).await?;
    Ok(found.map(|_| name.to_string()))
}

/// The code of the error a create returns when the object it would create already exists
/// ([`not_ours`]).
pub const NOT_OURS: &str = "StrataNotOurs";

/// The refusal of a create whose object already exists: strata never takes over an object
/// this state did not create (a second checkout or a lost state file would otherwise adopt,
/// and later change or empty, someone else's object). `id` is what `strata import` takes.
pub fn not_ours(schema: &Schema, what: &str, where_: &str, id: &str) -> AwsError {
    AwsError {
        operation: "create",
        code: Some(NOT_OURS.to_string()),
        message: format!(
            "{} {what} already exists ({where_}) and is not in this stack's state; strata does not take over objects it did not create. To manage it with this stack, run `strata import STACK_FILE RESOURCE {id}`",
            schema.type_name
        ),
        status: None,
        kind: ErrorKind::Local,
    }
}

/// [`not_ours`] for an object named `name` in the account and region of `aws`, which is
/// also what `strata import` takes.
pub async fn not_ours_here(schema: &Schema, aws: &Clients, name: &str) -> AwsError {
    let place = match aws.account_id().await {
        Ok(account) => format!("in account {account}, {}", aws.region),
        Err(_) => format!("in {}", aws.region),
    };
    not_ours(schema, &format!("`{name}`"), &place, name)
}

/// Makes each of `names` that the stack leaves out `null`: for attributes whose absence
/// AWS gives a meaning (no retention, no stream), so that removing one from the stack
/// removes it from the object instead of leaving it as it is.
pub fn omitted_means_none(desired: &mut Attrs, names: &[&str]) {
    for name in names {
        if !desired.contains_key(*name) {
            desired.insert(name.to_string(), Value::Null);
        }
    }
}

/// Whether a create failed because its object already existed and was not taken over: then
/// nothing was created, and the write-ahead record of the create must not lead the next run
/// to adopt that object.
pub fn is_not_ours(error: &AwsError) -> bool {
    error.code_is(&[NOT_OURS])
}

/// The object a create made although its answer was "already exists": the create looked
/// first and found nothing, so that answer is the SDK's retry of our own create whose reply
/// was lost (the first attempt was carried out). Reads it back with `read`, waiting out the
/// moment a new object may not be visible yet; an error when it stays invisible, since then
/// the "already exists" cannot be explained by our own create.
pub async fn own_lost_create<T, F, Fut>(
    operation: &'static str,
    what: &str,
    read: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, AwsError>>,
{
    match wait_until(Backoff::CONSISTENCY, read).await? {
        Some(found) => Ok(found),
        None => Err(AwsError::new(
            operation,
            format!(
                "{what} was not there before the create, the create answered that it already exists, and it cannot be read: apply again"
            ),
        )),
    }
}

/// The value `read` reports for a secret AWS shows only when asked (an SSM SecureString, a
/// secret's string): the seal recorded in `prior` while the live version is still the one
/// recorded with it in `version_attribute` (any write, strata's or not, makes a new
/// version), else the live value `fetch` gets, sealed afresh (`None`: it has none).
pub async fn sealed_live<F, Fut>(
    prior: &Attrs,
    attribute: &str,
    version_attribute: &str,
    live_version: &Value,
    fetch: F,
) -> Result<Option<Value>, AwsError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Option<String>, AwsError>>,
{
    if let Some(recorded) = prior.get(attribute).filter(|v| sealed::is_sealed(v))
        && prior.get(version_attribute) == Some(live_version)
    {
        return Ok(Some(recorded.clone()));
    }
    Ok(fetch().await?.map(|clear| sealed::seal(&clear)))
}

/// The day of a timestamp, `2026-01-31`.
pub fn day(at: &aws_smithy_types::DateTime) -> String {
    at.fmt(aws_smithy_types::date_time::Format::DateTime)
        .map(|s| s.chars().take(10).collect())
        .unwrap_or_else(|_| "a later date".into())
}

/// The day `days` days from now (when a deletion scheduled now happens).
pub fn day_in(days: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    day(&aws_smithy_types::DateTime::from_secs(now + days * 86_400))
}

/// What a not-found answer means: for a read, the object is gone (drift, not an error);
/// for a delete, it counts as deleted.
pub trait Gone<T> {
    /// The answer, or `None` when the object is gone.
    fn or_gone(self) -> Result<Option<T>, AwsError>;
    /// Success, also when the object was already gone.
    fn ok_if_gone(self) -> Result<(), AwsError>;
}

impl<T> Gone<T> for Result<T, AwsError> {
    fn or_gone(self) -> Result<Option<T>, AwsError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn ok_if_gone(self) -> Result<(), AwsError> {
        self.or_gone().map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decode_reads_iam_policy_documents() {
        assert_eq!(
            percent_decode("%7B%22Version%22%3A%222012-10-17%22%7D"),
            r#"{"Version":"2012-10-17"}"#
        );
        assert_eq!(percent_decode("a%20b+c"), "a b+c");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    #[test]
    fn percent_decode_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%+1"), "%+1");
        assert_eq!(percent_decode(r#"{"a":1}"#), r#"{"a":1}"#);
    }
}

/// Validation of small stacks in the resource types' unit tests.
#[cfg(test)]
pub mod testing {
    /// What `strata validate` says of a stack of `resources` (its `[stack]` table is
    /// added), or nothing when the stack passes. File positions read `stack.toml:LINE:COL`;
    /// the resources start on line 4.
    pub fn validate(resources: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stack.toml");
        std::fs::write(&path, format!("[stack]\nname = \"t\"\n\n{resources}")).unwrap();
        match crate::graph::load_stack(&path, &[], &crate::resources::SCHEMAS) {
            Ok(_) => String::new(),
            Err(e) => e.render(),
        }
    }

    /// `resources` fails validation with `message` at line `line` of the stack.
    pub fn assert_refused(resources: &str, line: usize, message: &str) {
        let out = validate(resources);
        assert!(
            out.contains(&format!("stack.toml:{line}:")) && out.contains(message),
            "expected `{message}` at line {line}, got:\n{out}"
        );
    }
}
