//! The console's field search index: every field name any stored schema declares (in every
//! format, `core::fields`), lower-cased, with the schemas that declare it.
//!
//! Held apart from the state, like the audit index: built on the first search, from the state
//! it is given, and brought up to date by each later search whose state has moved (the schemas
//! not yet indexed are read then), so a node whose console is never searched never holds it.
//! A posting is 8 bytes (a context's number and a schema id); the paths and tags of a hit are
//! read again from its text when it is shown, for at most [`MAX_SCHEMAS`] schemas a search
//! (those the caller may read, newest first).

use std::collections::{HashMap, HashSet};

use covenant_core::ids::{ContextName, SchemaId};
use parking_lot::Mutex;

use crate::state::State;

/// Schemas a search reads hits from at most (the newest ids first).
pub const MAX_SCHEMAS: usize = 2_000;

#[derive(Default)]
struct Inner {
    /// The state head the index was last brought up to.
    head: Option<u64>,
    /// Contexts by number.
    contexts: Vec<ContextName>,
    /// Schemas indexed: (context number, id).
    indexed: HashSet<(u32, SchemaId)>,
    /// Field name (lower case) → the schemas declaring it.
    names: HashMap<Box<str>, Vec<(u32, SchemaId)>>,
}

/// The index (see the module's documentation).
#[derive(Default)]
pub struct FieldIndex {
    inner: Mutex<Inner>,
}

impl Inner {
    fn context_number(&mut self, name: &ContextName) -> u32 {
        match self.contexts.iter().position(|c| c == name) {
            Some(number) => number as u32,
            None => {
                self.contexts.push(name.clone());
                (self.contexts.len() - 1) as u32
            }
        }
    }

    fn update(&mut self, state: &State) {
        if self.head == Some(state.head()) {
            return;
        }
        for (context_name, context) in state.contexts() {
            let number = self.context_number(context_name);
            for (id, record) in &context.schemas {
                if !self.indexed.insert((number, *id)) {
                    continue;
                }
                for field in covenant_core::fields::fields(record.schema_type, &record.schema()) {
                    let postings = self
                        .names
                        .entry(field.name.to_lowercase().into_boxed_str())
                        .or_default();
                    if postings.last() != Some(&(number, *id)) {
                        postings.push((number, *id));
                    }
                }
            }
        }
        self.head = Some(state.head());
    }
}

impl FieldIndex {
    /// The schemas declaring a field whose lower-cased name contains `needle` (already lower
    /// case), as (context, id), the highest ids first.
    pub fn matching(&self, state: &State, needle: &str) -> Vec<(ContextName, SchemaId)> {
        let mut inner = self.inner.lock();
        inner.update(state);
        let mut schemas: Vec<(u32, SchemaId)> = inner
            .names
            .iter()
            .filter(|(name, _)| name.contains(needle))
            .flat_map(|(_, postings)| postings.iter().copied())
            .collect();
        schemas.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        schemas.dedup();
        schemas
            .into_iter()
            .filter_map(|(number, id)| Some((inner.contexts.get(number as usize)?.clone(), id)))
            .collect()
    }
}
