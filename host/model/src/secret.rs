//! Secrets in memory: wiped on drop, never printed by `Debug`, never serialised unless a
//! record opts in.
//!
//! [`SecretString`] holds any secret; the per-kind newtypes ([`AccessToken`],
//! [`RefreshToken`], [`ClientSecret`], [`ApiKeyValue`], [`Password`], [`TokenSecret`],
//! [`SecretAccessKey`], [`SessionToken`], [`PkceVerifier`]) say which one a field holds,
//! so one cannot be passed where another is meant.
//!
//! The rule: no secret type implements `Serialize`. A secret is deserialised from what
//! the API receives or the store opens; it is written out only sealed, by a record that
//! opts in field by field with `#[serde(serialize_with = "crate::secret::expose_for_sealing")]`
//! (or [`expose_option_for_sealing`], [`expose_map_for_sealing`]). `grep for_sealing`
//! lists every place a secret can be serialised. The serialised form is the plain string
//! (as `SecretString` was `#[serde(transparent)]`), so records sealed before these types
//! existed still open.

use std::collections::BTreeMap;

use serde::Serializer;
use zeroize::Zeroize;

/// Wipes a `String` holding a secret when it is dropped. `Deserialize` but not
/// `Serialize` (see the module documentation).
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself. Every caller is a place the secret goes: keep them few.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A secret of any kind, as the sealing helpers and the redactor read it.
pub trait ExposeSecret {
    /// The secret itself.
    fn expose_secret(&self) -> &str;
}

impl ExposeSecret for SecretString {
    fn expose_secret(&self) -> &str {
        self.expose()
    }
}

macro_rules! secret_kind {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Wiped on drop, `[redacted]` in `Debug`, not `Serialize`.
        #[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(SecretString);

        impl $name {
            /// Wraps a secret.
            pub fn new(s: impl Into<String>) -> Self {
                Self(SecretString::new(s))
            }

            /// The secret itself. Every caller is a place the secret goes: keep them few.
            pub fn expose(&self) -> &str {
                self.0.expose()
            }

            /// The secret as a [`SecretString`], for code that takes secrets of any kind
            /// (placement, signing, redaction).
            pub fn as_secret(&self) -> &SecretString {
                &self.0
            }
        }

        impl From<SecretString> for $name {
            fn from(s: SecretString) -> Self {
                Self(s)
            }
        }

        impl ExposeSecret for $name {
            fn expose_secret(&self) -> &str {
                self.0.expose()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("[redacted]")
            }
        }
    };
}

secret_kind!(
    /// An OAuth access token (OAuth 2 bearer token, OAuth 1 `oauth_token`).
    AccessToken
);
secret_kind!(
    /// An OAuth 2 refresh token.
    RefreshToken
);
secret_kind!(
    /// An OAuth 2 client secret or OAuth 1 consumer secret.
    ClientSecret
);
secret_kind!(
    /// The value of one API-key parameter.
    ApiKeyValue
);
secret_kind!(
    /// A Basic password.
    Password
);
secret_kind!(
    /// An OAuth 1 `oauth_token_secret` (of a request or access token).
    TokenSecret
);
secret_kind!(
    /// An AWS secret access key.
    SecretAccessKey
);
secret_kind!(
    /// An AWS session token (temporary credentials).
    SessionToken
);
secret_kind!(
    /// An OAuth 2 PKCE code verifier.
    PkceVerifier
);

/// Serialises a secret as its plain string: only for records that are sealed before
/// they leave memory. Opt in per field with
/// `#[serde(serialize_with = "crate::secret::expose_for_sealing")]`.
///
/// # Errors
/// The serializer's.
pub fn expose_for_sealing<T: ExposeSecret, S: Serializer>(
    secret: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose_secret())
}

/// [`expose_for_sealing`] for an optional secret (`null` when absent).
///
/// # Errors
/// The serializer's.
pub fn expose_option_for_sealing<T: ExposeSecret, S: Serializer>(
    secret: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(s) => serializer.serialize_some(s.expose_secret()),
        None => serializer.serialize_none(),
    }
}

/// [`expose_for_sealing`] for a map of secrets by name.
///
/// # Errors
/// The serializer's.
pub fn expose_map_for_sealing<T: ExposeSecret, S: Serializer>(
    secrets: &BTreeMap<String, T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(secrets.iter().map(|(k, v)| (k, v.expose_secret())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_a_secret() {
        let all = format!(
            "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            SecretString::new("canary-0"),
            AccessToken::new("canary-1"),
            RefreshToken::new("canary-2"),
            ClientSecret::new("canary-3"),
            ApiKeyValue::new("canary-4"),
            Password::new("canary-5"),
            TokenSecret::new("canary-6"),
            SecretAccessKey::new("canary-7"),
            SessionToken::new("canary-8"),
            PkceVerifier::new("canary-9"),
        );
        assert!(!all.contains("canary"), "{all}");
        assert_eq!(all.matches("[redacted]").count(), 10, "{all}");
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Sealed {
        #[serde(serialize_with = "crate::secret::expose_for_sealing")]
        token: AccessToken,
        #[serde(serialize_with = "crate::secret::expose_option_for_sealing")]
        refresh: Option<RefreshToken>,
        #[serde(serialize_with = "crate::secret::expose_option_for_sealing")]
        absent: Option<RefreshToken>,
        #[serde(serialize_with = "crate::secret::expose_map_for_sealing")]
        values: BTreeMap<String, ApiKeyValue>,
    }

    #[test]
    fn an_opted_in_field_serialises_as_the_plain_string_and_round_trips() {
        let sealed = Sealed {
            token: AccessToken::new("at"),
            refresh: Some(RefreshToken::new("rt")),
            absent: None,
            values: [("k".to_owned(), ApiKeyValue::new("v"))].into(),
        };
        let json = serde_json::to_string(&sealed).unwrap();
        assert_eq!(
            json,
            r#"{"token":"at","refresh":"rt","absent":null,"values":{"k":"v"}}"#
        );
        let back: Sealed = serde_json::from_str(&json).unwrap();
        assert_eq!(back.token.expose(), "at");
        assert_eq!(back.refresh.unwrap().expose(), "rt");
        assert!(back.absent.is_none());
        assert_eq!(back.values["k"].expose(), "v");
    }

    #[test]
    fn a_kind_converts_from_a_secret_string_keeping_the_value() {
        let p = Password::from(SecretString::new("pw"));
        assert_eq!(p.expose(), "pw");
        assert_eq!(p.as_secret().expose(), "pw");
    }
}
