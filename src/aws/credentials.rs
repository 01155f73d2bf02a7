//! What strata says when credentials fail: none found, an SSO or `aws login` session
//! missing or expired, a `credential_process` that failed, keys the service does not
//! accept; each message names the profile (or the keys) in use and the fix.

use aws_credential_types::provider::error::{CredentialsError, TokenError};
use aws_smithy_runtime_api::client::result::ConnectorError;

use super::error::{AwsError, ErrorKind, one_line, root_cause};

/// Codes for keys the service does not know, or a signature made with the wrong secret.
pub(super) const INVALID_CREDENTIALS: &[&str] = &[
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "InvalidSignatureException",
    "AuthFailure",
];

/// Codes for temporary credentials past their expiry.
pub(super) const EXPIRED_CREDENTIALS: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "TokenRefreshRequired",
];

/// The profile the standard chain reads: `AWS_PROFILE`, or `default`.
pub fn profile_name() -> String {
    std::env::var("AWS_PROFILE")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".to_string())
}

/// Where the keys in use come from, as the subject of a sentence: the environment's keys
/// win over any profile in the standard chain; without a profile named, the web identity
/// variables (EKS, CI with OIDC) say where they come from.
pub(super) fn credentials_source() -> String {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if var("AWS_ACCESS_KEY_ID").is_some() {
        "the keys in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".to_string()
    } else if let (None, Some(role), Some(token)) = (
        var("AWS_PROFILE"),
        var("AWS_ROLE_ARN"),
        var("AWS_WEB_IDENTITY_TOKEN_FILE"),
    ) {
        format!("the web identity credentials (role `{role}`, token file `{token}`)")
    } else {
        format!("the credentials of profile `{}`", profile_name())
    }
}

/// The deepest cause of a credentials failure, in one line. An answer of AWS (STS refusing
/// a role) reads `CODE: message (request id ID)`, not the SDK's `Error { code: ... }`.
fn credentials_cause(failure: &(dyn std::error::Error + 'static)) -> String {
    let mut current = Some(failure);
    while let Some(err) = current {
        if let Some(meta) = err.downcast_ref::<aws_smithy_types::error::ErrorMetadata>() {
            let mut text = format!(
                "{}: {}",
                meta.code().unwrap_or("error"),
                meta.message().unwrap_or("no message")
            );
            if let Some(id) = meta.extra("aws_request_id") {
                text.push_str(&format!(" (request id {id})"));
            }
            return one_line(&text);
        }
        current = err.source();
    }
    root_cause(failure)
}

/// The credentials provider's error inside a request that was not sent, if that is why it
/// was not sent.
pub(super) fn credentials_failure(
    connector: &ConnectorError,
) -> Option<&(dyn std::error::Error + 'static)> {
    let mut current = std::error::Error::source(connector);
    while let Some(err) = current {
        if err.is::<CredentialsError>() || err.is::<TokenError>() {
            return Some(err);
        }
        current = err.source();
    }
    None
}

/// What went wrong loading credentials for `source` (a "the credentials of profile `NAME`"
/// sentence subject) and how to fix it, from the credentials provider's error.
pub(super) fn credentials_message(
    profile: &str,
    source: &str,
    failure: &(dyn std::error::Error + 'static),
) -> String {
    let mut texts = Vec::new();
    let mut is_token_error = false;
    let mut current = Some(failure);
    while let Some(err) = current {
        is_token_error |= err.is::<TokenError>();
        texts.push(err.to_string());
        current = err.source();
    }
    let mentions = |word: &str| texts.iter().any(|t| t.contains(word));
    let cause = credentials_cause(failure);
    let cause = cause
        .strip_prefix("Error retrieving credentials: ")
        .unwrap_or(&cause);
    let who = format!("profile `{profile}`");
    if is_token_error || mentions("SSO") {
        format!(
            "credentials: the SSO login of {who} is missing or expired ({cause}); run `aws sso login --profile {profile}`"
        )
    } else if mentions("Login token") {
        format!(
            "credentials: the `aws login` session of {who} is missing or expired ({cause}); run `aws login --profile {profile}`"
        )
    } else if mentions("external process") {
        format!("credentials: the credential_process of {who} failed: {cause}")
    } else {
        match failure.downcast_ref::<CredentialsError>() {
            Some(CredentialsError::CredentialsNotLoaded(_)) => format!(
                "credentials: none found (tried the environment, {who}, web identity, container and instance metadata): \
                 run `aws configure`, `aws sso login --profile NAME` or `aws login`, then set AWS_PROFILE; or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ),
            Some(CredentialsError::ProviderTimedOut(_)) => {
                format!("credentials: loading {source} took too long ({cause})")
            }
            _ => format!("credentials: {source} could not be loaded: {cause}"),
        }
    }
}

/// The service did not accept the keys: unknown, wrong secret, or expired. `answer` is the
/// service's code and message; the secret is never shown.
pub(super) fn rejected_credentials_message(
    source: &str,
    profile: &str,
    code: &str,
    answer: &str,
) -> String {
    if EXPIRED_CREDENTIALS.contains(&code) {
        format!(
            "credentials: {source} have expired ({answer}); get new ones (`aws sso login --profile {profile}` for an SSO profile, `aws login --profile {profile}` for an `aws login` one)"
        )
    } else {
        format!(
            "credentials: {source} are not valid for this account and endpoint ({answer}); check the keys, the profile and the endpoint in use"
        )
    }
}

impl AwsError {
    /// A credentials error from the service, with the access key id it rejected (the
    /// secret is never shown). Other errors are returned as they are.
    pub fn naming_access_key(mut self, access_key_id: Option<&str>) -> Self {
        if self.kind != ErrorKind::Credentials {
            return self;
        }
        if let Some(id) = access_key_id {
            let subject = format!("credentials: {}", credentials_source());
            if self.message.starts_with(&subject) && self.code.is_some() {
                self.message =
                    self.message
                        .replacen(&subject, &format!("{subject} (access key id {id})"), 1);
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials_text(failure: CredentialsError) -> String {
        credentials_message("dev", "the credentials of profile `dev`", &failure)
    }

    #[test]
    fn each_credentials_failure_names_the_profile_and_the_fix() {
        assert_eq!(
            credentials_text(CredentialsError::provider_error(
                TokenError::provider_error("failed to load the cached SSO token")
            )),
            "credentials: the SSO login of profile `dev` is missing or expired (failed to load \
             the cached SSO token); run `aws sso login --profile dev`"
        );
        assert_eq!(
            credentials_text(CredentialsError::provider_error(
                "Error retrieving credentials: external process exited with code exit status: 3. Stderr: MFA required"
            )),
            "credentials: the credential_process of profile `dev` failed: external process exited \
             with code exit status: 3. Stderr: MFA required"
        );
        assert_eq!(
            credentials_text(CredentialsError::unhandled("cached Login token is expired")),
            "credentials: the `aws login` session of profile `dev` is missing or expired (cached \
             Login token is expired); run `aws login --profile dev`"
        );
        let none = credentials_text(CredentialsError::not_loaded("no providers in chain"));
        assert!(
            none.starts_with("credentials: none found (tried the environment, profile `dev`,"),
            "{none}"
        );
        assert_eq!(
            credentials_text(CredentialsError::provider_error("connection reset")),
            "credentials: the credentials of profile `dev` could not be loaded: connection reset"
        );
    }
}
