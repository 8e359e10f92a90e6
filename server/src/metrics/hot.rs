//! The metrics of the request path, kept off every lock two workers could share: a histogram of
//! atomics, per-worker handles to each route's series (resolved once per worker, so a request
//! neither allocates labels nor looks up a family), and the usage reads recorded in one shard per
//! worker, merged when the page is scraped.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::{MetricType, TypedMetric};

use super::{Read, UsageKey};

/// The latency buckets, in seconds: fine below a millisecond, where reads from memory land.
pub const LATENCY_BUCKETS: [f64; 17] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

/// A latency histogram whose observations take no lock: a counter per bucket (and one past the
/// last), the count, and the sum in nanoseconds. A scrape that races an observation may see the
/// count and the buckets one observation apart, as with any lock-free exporter.
#[derive(Clone, Debug, Default)]
pub struct LatencyHistogram {
    inner: Arc<Buckets>,
}

#[derive(Debug, Default)]
struct Buckets {
    counts: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl LatencyHistogram {
    /// Records one latency.
    pub fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.inner.counts[bucket].fetch_add(1, Relaxed);
        self.inner.count.fetch_add(1, Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.inner.sum_nanos.fetch_add(nanos, Relaxed);
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(&self.inner.counts)
            .map(|(bound, count)| (bound, count.load(Relaxed)))
            .collect();
        let sum = self.inner.sum_nanos.load(Relaxed) as f64 / 1e9;
        let count = self.inner.count.load(Relaxed);
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// The series of one route and method: requests by status class (each made when the class is
/// first seen, so that the page lists only the classes that happened), and the latency.
pub struct RouteSeries {
    /// The method's label.
    pub method: &'static str,
    by_class: [std::cell::OnceCell<Counter>; 5],
    duration: LatencyHistogram,
}

impl RouteSeries {
    /// The series of a route whose latency is `duration`.
    pub fn new(method: &'static str, duration: LatencyHistogram) -> RouteSeries {
        RouteSeries {
            method,
            by_class: Default::default(),
            duration,
        }
    }

    /// Counts a request that ended with `status` after `took`; `counter(class)` makes the
    /// counter of a status class (`"2xx"`) the first time it is needed.
    pub fn record(&self, status: u16, took: Duration, counter: impl FnOnce(&str) -> Counter) {
        let class = usize::from(status / 100).clamp(1, 5);
        self.by_class[class - 1]
            .get_or_init(|| counter(["1xx", "2xx", "3xx", "4xx", "5xx"][class - 1]))
            .inc();
        self.duration.observe(took);
    }
}

/// The methods with series of their own; any other counts as `other`, so that a client cannot
/// make series with made-up methods.
pub const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "other",
];

/// The label of `method`.
pub fn method_label(method: &str) -> (usize, &'static str) {
    let index = METHODS[..METHODS.len() - 1]
        .iter()
        .position(|known| *known == method)
        .unwrap_or(METHODS.len() - 1);
    (index, METHODS[index])
}

/// The hasher of the maps on the request path (foldhash, seeded per process).
type Fast = foldhash::fast::RandomState;

type RouteTable = HashMap<String, [Option<Rc<RouteSeries>>; METHODS.len()], Fast>;

thread_local! {
    /// This worker's handles, per registry (its id) and route template.
    static ROUTES: RefCell<HashMap<u64, RouteTable, Fast>> = RefCell::new(HashMap::default());
    /// This worker's usage shard, per registry.
    static USAGE: RefCell<HashMap<u64, Arc<Mutex<UsageShard>>, Fast>> =
        RefCell::new(HashMap::default());
}

/// This worker's series of `route` and `method` for the registry `owner`, made by `make` (given
/// the method's label) the first time this worker sees them.
pub fn route_series(
    owner: u64,
    route: &str,
    method: &str,
    make: impl FnOnce(&'static str) -> RouteSeries,
) -> Rc<RouteSeries> {
    let (index, label) = method_label(method);
    ROUTES.with(|routes| {
        let mut routes = routes.borrow_mut();
        let table = routes.entry(owner).or_default();
        if let Some(found) = table.get(route).and_then(|methods| methods[index].clone()) {
            return found;
        }
        let made = Rc::new(make(label));
        table.entry(route.to_string()).or_default()[index] = Some(Rc::clone(&made));
        made
    })
}

/// The reads one worker recorded: each (schema, client) once, with when it was last read, found
/// by a hash of what the read names so that a repeated read allocates nothing.
#[derive(Default)]
pub struct UsageShard {
    entries: HashMap<u64, (UsageKey, i64), Fast>,
}

/// The usage shards of one registry, one per worker that has recorded a read, and how many
/// series they hold together.
#[derive(Default)]
pub struct Usage {
    shards: Mutex<Vec<Arc<Mutex<UsageShard>>>>,
    series: std::sync::atomic::AtomicUsize,
    hasher: Fast,
}

/// What a read names, borrowed from the request.
pub enum ReadOf<'a> {
    /// A schema id of a context.
    Id(
        &'a covenant_core::ids::ContextName,
        covenant_core::ids::SchemaId,
    ),
    /// A version of a subject.
    Version(
        &'a covenant_core::ids::QualifiedSubject,
        covenant_core::ids::Version,
    ),
}

impl ReadOf<'_> {
    fn matches(&self, read: &Read) -> bool {
        match (self, read) {
            (ReadOf::Id(context, id), Read::Id(c, i)) => *context == c && id == i,
            (ReadOf::Version(subject, version), Read::Version(s, v)) => {
                *subject == s && version == v
            }
            _ => false,
        }
    }

    fn owned(&self) -> Read {
        match self {
            ReadOf::Id(context, id) => Read::Id((*context).clone(), *id),
            ReadOf::Version(subject, version) => Read::Version((*subject).clone(), *version),
        }
    }
}

/// The longest client name the usage series keep.
const CLIENT_CHARS: usize = 64;

/// The client as the usage series name it: its printable ASCII, at most 64 characters. Names
/// that are that already (nearly all) are borrowed; others are copied into `buffer`.
fn client_name<'a>(raw: &'a str, buffer: &'a mut [u8; CLIENT_CHARS]) -> &'a str {
    let printable = |b: u8| b.is_ascii_graphic() || b == b' ';
    if raw.len() <= CLIENT_CHARS && raw.bytes().all(printable) {
        return raw;
    }
    let mut len = 0;
    for byte in raw.bytes().filter(|b| printable(*b)).take(CLIENT_CHARS) {
        buffer[len] = byte;
        len += 1;
    }
    // Only ASCII was copied.
    std::str::from_utf8(&buffer[..len]).unwrap_or_default()
}

impl Usage {
    /// Records that `client` (raw, as sent) read `read` at `now`; `false` when `max_series`
    /// series are held already and the read was not recorded.
    pub fn record(
        &self,
        owner: u64,
        read: ReadOf<'_>,
        client: &str,
        now: i64,
        max_series: usize,
    ) -> bool {
        let mut buffer = [0u8; CLIENT_CHARS];
        let client = client_name(client, &mut buffer);
        let mut hasher = self.hasher.build_hasher();
        match &read {
            ReadOf::Id(context, id) => (0u8, context, id).hash(&mut hasher),
            ReadOf::Version(subject, version) => (1u8, subject, version).hash(&mut hasher),
        }
        client.hash(&mut hasher);
        let hash = hasher.finish();
        let shard = USAGE.with(|shards| {
            Arc::clone(shards.borrow_mut().entry(owner).or_insert_with(|| {
                let shard = Arc::new(Mutex::new(UsageShard::default()));
                self.shards.lock().push(Arc::clone(&shard));
                shard
            }))
        });
        let mut shard = shard.lock();
        match shard.entries.get_mut(&hash) {
            Some((key, at)) if read.matches(&key.read) && key.client == client => {
                *at = now;
                true
            }
            // Another read with the same hash (as good as never): not recorded.
            Some(_) => false,
            None => {
                if self.series.fetch_add(1, Relaxed) >= max_series {
                    self.series.fetch_sub(1, Relaxed);
                    return false;
                }
                let key = UsageKey {
                    read: read.owned(),
                    client: client.to_string(),
                };
                shard.entries.insert(hash, (key, now));
                true
            }
        }
    }

    /// Every read recorded, each with its latest time across the shards.
    pub fn merged(&self) -> HashMap<UsageKey, i64> {
        let mut merged: HashMap<UsageKey, i64> = HashMap::new();
        for shard in self.shards.lock().iter() {
            for (key, at) in shard.lock().entries.values() {
                let latest = merged.entry(key.clone()).or_insert(*at);
                *latest = (*latest).max(*at);
            }
        }
        merged
    }
}
