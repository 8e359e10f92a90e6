//! Who is calling, decided once per request before any handler runs: the authenticator (when an
//! auth file is configured) turns the `Authorization` header or the client certificate into the
//! request's [`Caller`], or answers 401; the request-rate limits answer 429 with `Retry-After`.
//! Health and metrics are exempt from both.

use std::net::IpAddr;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse, ResponseError};

use super::AppState;
use crate::access::Caller;
use crate::auth::rate::Buckets;
use crate::auth::Refusal;
use crate::config::RateLimits;
use crate::error::Error;

/// The principal a connection's client certificate names, set when the connection opens.
#[derive(Clone, Debug)]
pub struct PeerPrincipal(pub String);

/// Who a rate limit counts against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum RateKey {
    Principal(String),
    Source(IpAddr),
    Unknown,
}

/// The request-rate limits in force.
pub struct RequestRates {
    reads: Option<(f64, Buckets<RateKey>)>,
    writes: Option<(f64, Buckets<RateKey>)>,
}

impl RequestRates {
    /// The limits of the config; `None` when there are none.
    pub fn new(limits: RateLimits) -> Option<RequestRates> {
        if limits.reads.is_none() && limits.writes.is_none() {
            return None;
        }
        let buckets = |rate: f64| (rate, Buckets::new(rate, rate.max(1.0)));
        Some(RequestRates {
            reads: limits.reads.map(buckets),
            writes: limits.writes.map(buckets),
        })
    }
}

/// Paths that need neither credentials nor a rate budget.
fn exempt(path: &str) -> bool {
    matches!(path, "/health/live" | "/health/ready")
}

/// Whether a request changes the registry (a registration, delete, config or mode change, a
/// tag, a key or an association). The POSTs that only read are named: lookups, compatibility
/// checks, `POST /`, `:batchGet`, a KEK's `/test` and a semantic-version preview.
fn is_write(method: &Method, path: &str) -> bool {
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => false,
        Method::POST => {
            let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            let tail = match segments.as_slice() {
                ["contexts", _, tail @ ..] => tail,
                tail => tail,
            };
            let reads = matches!(tail, [""] | ["subjects", _] | ["compatibility", ..])
                || matches!(segments.as_slice(), ["associations:batchGet"])
                || matches!(
                    segments.as_slice(),
                    ["dek-registry", "v1", "keks", _, "test"]
                )
                || matches!(
                    segments.as_slice(),
                    ["covenant", "v1", "subjects", _, "semver"]
                );
            !reads
        }
        _ => true,
    }
}

fn refused(
    error: Error,
    challenges: &[&'static str],
    retry_after: Option<Duration>,
) -> HttpResponse {
    let mut response = error.error_response();
    let headers = response.headers_mut();
    for challenge in challenges {
        headers.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    if let Some(wait) = retry_after {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    }
    response
}

/// Authenticates the request and applies the rate limits.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(data) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    if exempt(req.path()) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let source = req.peer_addr().map(|address| address.ip());
    // The console's pages: the sign-in page and the assets need no credentials; the others
    // take a session cookie's credentials when the request has no `Authorization` of its own,
    // and send a caller who is not signed in to the sign-in page instead of a 401.
    let console = data
        .console
        .as_ref()
        .filter(|_| crate::console::is_console(req.path()));
    let public = console.is_some() && crate::console::is_public(req.path());
    let caller = match &data.auth {
        // The sign-in page and the assets: no credentials, but the rate limits below.
        _ if public => Caller::anonymous(source),
        None => Caller::anonymous(source),
        Some(authenticator) => {
            let header = req
                .headers()
                .get(header::AUTHORIZATION)
                .map(|value| value.as_bytes().to_vec())
                .or_else(|| {
                    console.and_then(|console| {
                        crate::console::session_credentials(console, req.head()).flatten()
                    })
                });
            let certificate = req.conn_data::<PeerPrincipal>().map(|p| p.0.clone());
            match authenticator
                .authenticate(header.as_deref(), certificate.as_deref(), source)
                .await
            {
                Ok(identity) => Caller { identity, source },
                Err(Refusal::Unauthorized) if console.is_some() => {
                    let response = crate::console::to_login(req.head());
                    return Ok(req.into_response(response).map_into_right_body());
                }
                Err(Refusal::Unauthorized) => {
                    let response = refused(Error::Unauthorized, &authenticator.challenges(), None);
                    return Ok(req.into_response(response).map_into_right_body());
                }
                Err(Refusal::TooManyFailures(wait)) => {
                    let error = Error::RateLimited(format!(
                        "Too many failed authentication attempts from this address; retry in {} s",
                        wait.as_secs().max(1)
                    ));
                    let response = refused(error, &[], Some(wait));
                    return Ok(req.into_response(response).map_into_right_body());
                }
            }
        }
    };
    if let Some(rates) = &data.rates {
        let write = is_write(req.method(), req.path());
        let limit = if write { &rates.writes } else { &rates.reads };
        if let Some((rate, buckets)) = limit {
            let key = match (caller.principal(), source) {
                (Some(name), _) => RateKey::Principal(name.to_string()),
                (None, Some(source)) => RateKey::Source(source),
                (None, None) => RateKey::Unknown,
            };
            if let Err(wait) = buckets.take(&key) {
                let error = Error::RateLimited(format!(
                    "Too many requests: the limit is {rate} {} a second",
                    if write { "writes" } else { "reads" }
                ));
                let response = refused(error, &[], Some(wait));
                return Ok(req.into_response(response).map_into_right_body());
            }
        }
    }
    req.extensions_mut().insert(caller);
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads() {
        assert!(is_write(&Method::POST, "/subjects/s/versions"));
        assert!(is_write(&Method::POST, "/contexts/.c/subjects/s/versions"));
        assert!(!is_write(&Method::POST, "/subjects/s"));
        assert!(!is_write(
            &Method::POST,
            "/compatibility/subjects/s/versions"
        ));
        assert!(!is_write(
            &Method::POST,
            "/compatibility/subjects/s/versions/latest"
        ));
        assert!(is_write(&Method::PUT, "/config"));
        assert!(is_write(&Method::DELETE, "/subjects/s"));
        assert!(!is_write(&Method::GET, "/subjects/s/versions"));
        assert!(is_write(&Method::POST, "/subjects/compatibility/versions"));
        assert!(!is_write(&Method::POST, "/"));
        assert!(!is_write(&Method::POST, "/contexts/.c/subjects/s"));
        // Tags, keys and associations change the registry.
        assert!(is_write(&Method::POST, "/subjects/s/versions/1/tags"));
        assert!(is_write(&Method::POST, "/dek-registry/v1/keks"));
        assert!(is_write(&Method::POST, "/dek-registry/v1/keks/k/deks/s"));
        assert!(is_write(&Method::POST, "/dek-registry/v1/keks/k/undelete"));
        assert!(!is_write(&Method::POST, "/dek-registry/v1/keks/k/test"));
        assert!(is_write(&Method::POST, "/associations"));
        assert!(is_write(&Method::POST, "/associations:batchMutate"));
        assert!(!is_write(&Method::POST, "/associations:batchGet"));
        assert!(!is_write(&Method::POST, "/covenant/v1/subjects/s/semver"));
    }
}
