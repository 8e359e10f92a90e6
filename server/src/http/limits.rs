//! Bounds on what one source can hold open: every connection is counted against its source
//! address from accept to close, and a request arriving on a connection past the source's limit
//! is answered 429 and the connection closed, before its body is read.

use std::any::Any;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use actix_web::dev::Extensions;
use parking_lot::Mutex;

/// Open connections per source address.
pub struct Sources {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// A connection's place in its source's count, released when the connection closes.
pub struct Connection {
    sources: Arc<Sources>,
    address: IpAddr,
    /// Whether the source already had its limit of connections open when this one came.
    pub over_limit: bool,
}

impl Sources {
    /// A count with `limit` connections per source (0: no limit).
    pub fn new(limit: usize) -> Arc<Sources> {
        Arc::new(Sources {
            limit,
            open: Mutex::new(HashMap::new()),
        })
    }

    fn connect(self: &Arc<Self>, address: IpAddr) -> Connection {
        let mut open = self.open.lock();
        let count = open.entry(address).or_default();
        *count += 1;
        Connection {
            sources: Arc::clone(self),
            address,
            over_limit: self.limit > 0 && *count > self.limit,
        }
    }

    /// The `on_connect` hook: counts a new connection against its peer address, and for a TLS
    /// connection with a verified client certificate, records the principal it names.
    pub fn on_connect(self: &Arc<Self>, connection: &dyn Any, extensions: &mut Extensions) {
        type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
        let tcp = if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
            Some(tcp)
        } else if let Some(tls) = connection.downcast_ref::<Tls>() {
            let (tcp, session) = tls.get_ref();
            let principal = session
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| crate::tls::certificate_principal(leaf));
            if let Some(principal) = principal {
                extensions.insert(super::auth::PeerPrincipal(principal));
            }
            Some(tcp)
        } else {
            None
        };
        if let Some(address) = tcp.and_then(|s| s.peer_addr().ok()) {
            extensions.insert(self.connect(address.ip()));
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let mut open = self.sources.open.lock();
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}
