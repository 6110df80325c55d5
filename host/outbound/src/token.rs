//! The host's own HTTP client, for the requests it makes itself with a secret: OAuth 2
//! token, refresh and revocation requests, OAuth 1 request-token and access-token
//! requests. Every request goes through [`TokenHttp::execute`], which applies the guard
//! functions get (http(s) only, no user info, IP literals checked, names checked after
//! DNS) before a byte is sent; the inner client is never handed out, so no caller can
//! skip it. No redirects (a redirect could carry the client secret or a code elsewhere,
//! as the `oauth2` crate warns), no proxies from the environment, a 30-second timeout.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::OutboundConfig;
use super::net::{BlockedAddress, GuardedResolver, check_literal};

/// Bound on one token request.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Largest token endpoint answer read (the OAuth 1 flow has its own, smaller bound).
const MAX_ANSWER: usize = 1024 * 1024;

/// The guarded client for the host's own token requests; cheap to clone.
#[derive(Debug, Clone)]
pub struct TokenHttp {
    client: reqwest::Client,
    allow_private: bool,
}

/// Why a token request was not answered. `Display` never shows a URL's query or a body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenHttpError {
    /// The private-network guard refused the address (literal or resolved).
    #[error("{0}")]
    Blocked(#[source] BlockedAddress),
    /// The URL cannot be used (scheme, user info).
    #[error("{0}")]
    Invalid(String),
    /// Connecting, sending or reading failed.
    #[error("the endpoint could not be reached")]
    Transport(#[source] reqwest::Error),
}

impl TokenHttpError {
    /// The guard's refusal, when that is why (directly or found by the resolver).
    pub fn blocked(&self) -> Option<&BlockedAddress> {
        match self {
            Self::Blocked(b) => Some(b),
            Self::Transport(e) => super::net::blocked_in(e),
            Self::Invalid(_) => None,
        }
    }
}

impl TokenHttp {
    /// Builds the client under `config`'s private-network setting.
    ///
    /// # Errors
    /// The TLS backend failed to initialise.
    pub fn new(config: &OutboundConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .referer(false)
            .connect_timeout(config.connect_timeout)
            .timeout(TIMEOUT)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver::new(
                config.allow_private_networks,
            )))
            .build()?;
        Ok(Self {
            client,
            allow_private: config.allow_private_networks,
        })
    }

    /// Sends `request` after the guard's checks; nothing is sent when they fail.
    ///
    /// # Errors
    /// [`TokenHttpError`].
    pub async fn execute(
        &self,
        request: reqwest::Request,
    ) -> Result<reqwest::Response, TokenHttpError> {
        let url = request.url();
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TokenHttpError::Invalid(format!(
                "scheme `{}` is not supported for token requests: use https",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TokenHttpError::Invalid(
                "a token endpoint URL must not contain user info (user:password@)".into(),
            ));
        }
        check_literal(url, self.allow_private).map_err(TokenHttpError::Blocked)?;
        self.client
            .execute(request)
            .await
            .map_err(TokenHttpError::Transport)
    }
}

/// The `oauth2` crate's requests go through [`TokenHttp::execute`] as well.
impl<'c> oauth2::AsyncHttpClient<'c> for TokenHttp {
    type Error = TokenHttpError;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, Self::Error>> + Send + Sync + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request).map_err(TokenHttpError::Transport)?;
            let response = self.execute(request).await?;
            let mut builder = oauth2::http::Response::builder()
                .status(response.status())
                .version(response.version());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            // A token answer is a small JSON object: a provider's endless body is cut off
            // here rather than held in memory.
            let mut response = response;
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(TokenHttpError::Transport)? {
                if body.len() + chunk.len() > MAX_ANSWER {
                    return Err(TokenHttpError::Invalid(format!(
                        "the endpoint's answer is larger than {MAX_ANSWER} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            builder
                .body(body)
                .map_err(|e| TokenHttpError::Invalid(format!("the answer is not valid HTTP: {e}")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback listener that counts the connections it accepts.
    async fn listener() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let a = accepted.clone();
        tokio::spawn(async move {
            while l.accept().await.is_ok() {
                a.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        (port, accepted)
    }

    /// A token endpoint that never stops sending is cut off at [`MAX_ANSWER`], not
    /// buffered whole.
    #[tokio::test]
    async fn an_endless_token_answer_is_cut_off() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n";
                    if s.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let filler = vec![b' '; 64 * 1024];
                    // 4 MiB, then the connection closes: finite, but over the bound.
                    for _ in 0..64 {
                        if s.write_all(&filler).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let http = TokenHttp::new(&OutboundConfig {
            allow_private_networks: true,
            ..OutboundConfig::default()
        })
        .unwrap();
        let request = oauth2::http::Request::builder()
            .method("POST")
            .uri(format!("http://127.0.0.1:{port}/token"))
            .body(b"grant_type=client_credentials".to_vec())
            .unwrap();
        let e = oauth2::AsyncHttpClient::call(&http, request)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
    }

    #[tokio::test]
    async fn private_literals_and_names_are_refused_before_anything_is_sent() {
        let (port, accepted) = listener().await;
        let http = TokenHttp::new(&OutboundConfig::default()).unwrap();
        for url in [
            format!("http://127.0.0.1:{port}/token"),
            format!("http://[::ffff:127.0.0.1]:{port}/token"),
            format!("http://[::127.0.0.1]:{port}/token"),
            format!("http://localhost:{port}/token"),
        ] {
            let request = reqwest::Request::new(reqwest::Method::POST, url.parse().unwrap());
            let e = http.execute(request).await.unwrap_err();
            let blocked = e.blocked().unwrap_or_else(|| panic!("{url}: {e:?}"));
            assert!(
                blocked.to_string().contains("--allow-private-networks"),
                "{url}: {blocked}"
            );
        }
        // The same through the oauth2 crate's interface.
        let request = oauth2::http::Request::builder()
            .method("POST")
            .uri(format!("http://127.0.0.1:{port}/token"))
            .body(b"grant_type=client_credentials".to_vec())
            .unwrap();
        let e = oauth2::AsyncHttpClient::call(&http, request)
            .await
            .unwrap_err();
        assert!(e.blocked().is_some(), "{e:?}");
        let e = http
            .execute(reqwest::Request::new(
                reqwest::Method::POST,
                "ftp://auth.example.com/token".parse().unwrap(),
            ))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("https"), "{e}");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0);

        // With --allow-private-networks the same literal is reached.
        let open = TokenHttp::new(&OutboundConfig {
            allow_private_networks: true,
            ..OutboundConfig::default()
        })
        .unwrap();
        let mut request = reqwest::Request::new(
            reqwest::Method::POST,
            format!("http://127.0.0.1:{port}/token").parse().unwrap(),
        );
        *request.timeout_mut() = Some(Duration::from_millis(300));
        let _ = open.execute(request).await;
        tokio::time::timeout(Duration::from_secs(5), async {
            while accepted.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the allowed request reached the listener");
    }
}
