//! Switchboard's model: the records the host keeps, identifier rules, limits, secrets,
//! the one error type, and the clock. No I/O and no wasmtime: every other crate of the
//! host depends on this one, and this one on none of them.

pub mod auth;
pub mod authz;
pub mod clock;
pub mod context;
pub mod encoding;
pub mod error;
pub mod limits;
pub mod names;
pub mod records;
pub mod secret;
pub mod time;

pub use clock::{Clock, ManualClock, SystemClock};
pub use context::{InvocationContext, Principal};
pub use error::{CallError, Error};
pub use limits::Limits;
pub use secret::{
    AccessToken, ApiKeyValue, ClientSecret, Password, PkceVerifier, RefreshToken, SecretAccessKey,
    SecretString, SessionToken, TokenSecret,
};
