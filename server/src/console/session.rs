//! The console's login sessions and CSRF tokens.
//!
//! A login checks the credentials with the server's own authenticator, then keeps them in
//! memory under a random session token (the `covenant_session` cookie: `HttpOnly`,
//! `SameSite=Strict`, `Path=/ui`, `Secure` over HTTPS): each later request of the session is
//! authenticated again with them, by the same middleware and cache as an API request, so a
//! user removed from the auth file, a changed password or an expired JWT ends the session at
//! once. The store is keyed by a SHA-256 of the token (a lookup compares digests, never the
//! token), bounded in size, and sessions end after [`LIFETIME`] or at logout. Nothing here is
//! logged or written anywhere.
//!
//! Every form carries a CSRF token: an HMAC-SHA256, under a key made at start, of a random
//! per-browser nonce (the `covenant_csrf` cookie) and the session token, compared in constant
//! time. A POST without the right token, or whose `Origin` names another host, is refused.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie.
pub const SESSION_COOKIE: &str = "covenant_session";
/// The CSRF nonce cookie.
pub const CSRF_COOKIE: &str = "covenant_csrf";
/// How long a session lasts after its login.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Sessions kept at most; the oldest ends first when a login would pass it.
pub const MAX_SESSIONS: usize = 10_000;
/// Sessions one principal keeps at most; its oldest ends first (so that no one user's
/// sign-ins can push everyone else's sessions out).
pub const MAX_PER_PRINCIPAL: usize = 16;

struct Session {
    /// Whose it is.
    principal: String,
    /// The `Authorization` header the login was checked with; `None` for a session of a
    /// caller the transport identified (a client certificate).
    authorization: Option<Vec<u8>>,
    created: Instant,
}

/// The sessions and the CSRF key.
pub struct Sessions {
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    csrf_key: ring::hmac::Key,
}

impl Default for Sessions {
    fn default() -> Sessions {
        Sessions::new()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A random token of 32 bytes, URL-safe base64.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the system's random source");
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Sessions {
    /// An empty store with a fresh CSRF key.
    pub fn new() -> Sessions {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the system's random source");
        Sessions {
            sessions: Mutex::new(HashMap::new()),
            csrf_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
        }
    }

    /// Starts a session of `principal` for credentials that authenticated; answers its token.
    pub fn start(&self, principal: &str, authorization: Option<Vec<u8>>) -> String {
        let token = random_token();
        let mut sessions = self.sessions.lock();
        let now = Instant::now();
        let evict_oldest = |sessions: &mut HashMap<[u8; 32], Session>, own: bool| {
            let oldest = sessions
                .iter()
                .filter(|(_, s)| !own || s.principal == principal)
                .min_by_key(|(_, s)| s.created)
                .map(|(key, _)| *key);
            oldest.and_then(|key| sessions.remove(&key)).is_some()
        };
        while sessions
            .values()
            .filter(|s| s.principal == principal)
            .count()
            >= MAX_PER_PRINCIPAL
        {
            if !evict_oldest(&mut sessions, true) {
                break;
            }
        }
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| now.duration_since(s.created) < LIFETIME);
        }
        while sessions.len() >= MAX_SESSIONS {
            if !evict_oldest(&mut sessions, false) {
                break;
            }
        }
        sessions.insert(
            digest(&token),
            Session {
                principal: principal.to_string(),
                authorization,
                created: now,
            },
        );
        token
    }

    /// The credentials of a live session: `Some(None)` for a session without a header,
    /// `None` when the token names no live session.
    pub fn credentials(&self, token: &str) -> Option<Option<Vec<u8>>> {
        let key = digest(token);
        let mut sessions = self.sessions.lock();
        match sessions.get(&key) {
            Some(session) if session.created.elapsed() < LIFETIME => {
                Some(session.authorization.clone())
            }
            Some(_) => {
                sessions.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends a session.
    pub fn end(&self, token: &str) {
        self.sessions.lock().remove(&digest(token));
    }

    /// The CSRF token of a browser's nonce and session.
    pub fn csrf(&self, nonce: &str, session: Option<&str>) -> String {
        let mut message = Vec::with_capacity(nonce.len() + 65);
        message.extend_from_slice(nonce.as_bytes());
        message.push(0);
        message.extend_from_slice(session.unwrap_or_default().as_bytes());
        URL_SAFE_NO_PAD.encode(ring::hmac::sign(&self.csrf_key, &message).as_ref())
    }

    /// Whether `given` is the CSRF token of this nonce and session (constant time).
    pub fn csrf_matches(&self, nonce: &str, session: Option<&str>, given: &str) -> bool {
        if nonce.is_empty() {
            return false;
        }
        let expected = self.csrf(nonce, session);
        expected.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_hold_their_credentials_until_they_end() {
        let sessions = Sessions::new();
        let token = sessions.start("a", Some(b"Basic YTpi".to_vec()));
        assert_eq!(
            sessions.credentials(&token),
            Some(Some(b"Basic YTpi".to_vec()))
        );
        assert_eq!(sessions.credentials("forged"), None);
        sessions.end(&token);
        assert_eq!(sessions.credentials(&token), None);
        let certificate = sessions.start("CN=client", None);
        assert_eq!(sessions.credentials(&certificate), Some(None));
    }

    #[test]
    fn the_store_is_bounded_and_one_user_cannot_fill_it() {
        let sessions = Sessions::new();
        let other = sessions.start("other", None);
        let first = sessions.start("busy", None);
        for _ in 0..MAX_SESSIONS {
            sessions.start("busy", None);
        }
        // One principal's sign-ins end only its own oldest sessions.
        assert_eq!(sessions.sessions.lock().len(), MAX_PER_PRINCIPAL + 1);
        assert_eq!(sessions.credentials(&first), None, "busy's oldest ended");
        assert_eq!(
            sessions.credentials(&other),
            Some(None),
            "other's session lives"
        );
        // Many principals: the store stays at its bound, the oldest ending first.
        for i in 0..MAX_SESSIONS {
            sessions.start(&format!("user-{i}"), None);
        }
        assert_eq!(sessions.sessions.lock().len(), MAX_SESSIONS);
        assert_eq!(sessions.credentials(&other), None, "the oldest ended");
    }

    #[test]
    fn csrf_tokens_bind_the_nonce_and_the_session() {
        let sessions = Sessions::new();
        let token = sessions.csrf("nonce", Some("session"));
        assert!(sessions.csrf_matches("nonce", Some("session"), &token));
        assert!(!sessions.csrf_matches("nonce", None, &token));
        assert!(!sessions.csrf_matches("other", Some("session"), &token));
        assert!(!sessions.csrf_matches("", None, &sessions.csrf("", None)));
        assert!(!sessions.csrf_matches("nonce", Some("session"), ""));
        // Another process's key makes other tokens.
        assert_ne!(Sessions::new().csrf("nonce", Some("session")), token);
    }
}
