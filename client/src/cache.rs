//! A small bounded map, safe to share between threads: reads take a shared lock; when full, an
//! insert evicts the oldest entry. Entries may carry a time to live.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use parking_lot::RwLock;

/// A bounded cache.
pub struct BoundedCache<K, V> {
    capacity: usize,
    ttl: Option<Duration>,
    entries: RwLock<Entries<K, V>>,
}

struct Entries<K, V> {
    map: HashMap<K, (V, Instant, u64)>,
    next: u64,
}

impl<K: Eq + Hash + Clone, V: Clone> BoundedCache<K, V> {
    /// A cache of at most `capacity` entries, each kept at most `ttl` if given.
    pub fn new(capacity: usize, ttl: Option<Duration>) -> Self {
        BoundedCache {
            capacity: capacity.max(1),
            ttl,
            entries: RwLock::new(Entries {
                map: HashMap::new(),
                next: 0,
            }),
        }
    }

    /// The value for `key`, if present and fresh.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let entries = self.entries.read();
        let (value, inserted, _) = entries.map.get(key)?;
        match self.ttl {
            Some(ttl) if inserted.elapsed() > ttl => None,
            _ => Some(value.clone()),
        }
    }

    /// Stores a value, evicting the oldest entry when full.
    pub fn insert(&self, key: K, value: V) {
        let mut entries = self.entries.write();
        if entries.map.len() >= self.capacity && !entries.map.contains_key(&key) {
            if let Some(oldest) = entries
                .map
                .iter()
                .min_by_key(|(_, (_, _, order))| *order)
                .map(|(k, _)| k.clone())
            {
                entries.map.remove(&oldest);
            }
        }
        let order = entries.next;
        entries.next += 1;
        entries.map.insert(key, (value, Instant::now(), order));
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.entries.write().map.clear();
    }

    /// How many entries are held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.read().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_oldest_when_full() {
        let cache = BoundedCache::new(2, None);
        cache.insert(1, "a");
        cache.insert(2, "b");
        cache.insert(3, "c");
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&1), None);
        assert_eq!(cache.get(&3), Some("c"));
    }

    #[test]
    fn expires_entries_after_their_ttl() {
        let cache = BoundedCache::new(4, Some(Duration::from_millis(20)));
        cache.insert("k", 1);
        assert_eq!(cache.get(&"k"), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get(&"k"), None);
    }

    #[test]
    fn is_safe_under_concurrency() {
        let cache = std::sync::Arc::new(BoundedCache::new(64, None));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        cache.insert((t, i % 100), i);
                        let _ = cache.get(&(t, i % 100));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("no panic");
        }
        assert!(cache.len() <= 64);
    }
}
