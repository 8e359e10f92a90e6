//! The DEK registry's and the associations' part of the state: KEKs, DEKs, and the
//! associations of resources with subjects, each with the time of its last change.

use imbl::OrdMap;

use covenant_core::ids::QualifiedSubject;

use crate::kms::DekAlgorithm;
use crate::persist::{StoredAssociation, StoredDek, StoredKek};

/// A KEK and when it was last written.
#[derive(Clone, Debug, PartialEq)]
pub struct KekEntry {
    /// The KEK.
    pub kek: StoredKek,
    /// The time of the last write, in milliseconds.
    pub ts: i64,
}

/// A DEK and when it was last written.
#[derive(Clone, Debug, PartialEq)]
pub struct DekEntry {
    /// The DEK.
    pub dek: StoredDek,
    /// The time of the last write.
    pub ts: i64,
}

/// Where a DEK is kept: (KEK, subject, algorithm, version).
pub type DekKey = (String, String, DekAlgorithm, i32);

/// KEKs and DEKs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Keys {
    /// KEKs by name.
    pub keks: OrdMap<String, KekEntry>,
    /// DEKs in key order.
    pub deks: OrdMap<DekKey, DekEntry>,
}

impl Keys {
    /// The versions of one subject's DEK under a KEK with an algorithm, oldest first.
    pub fn versions<'k>(
        &'k self,
        kek: &str,
        subject: &str,
        algorithm: DekAlgorithm,
    ) -> impl DoubleEndedIterator<Item = (&'k DekKey, &'k DekEntry)> + 'k {
        let start = (kek.to_string(), subject.to_string(), algorithm, i32::MIN);
        let end = (kek.to_string(), subject.to_string(), algorithm, i32::MAX);
        self.deks.range(start..=end)
    }

    /// The DEKs under a KEK.
    pub fn of_kek<'k>(&'k self, kek: &'k str) -> impl Iterator<Item = &'k DekEntry> + 'k {
        self.deks
            .iter()
            .filter(move |((name, ..), _)| name == kek)
            .map(|(_, entry)| entry)
    }

    pub(super) fn kek_set(&mut self, kek: &StoredKek, ts: i64) {
        self.keks.insert(
            kek.name.clone(),
            KekEntry {
                kek: kek.clone(),
                ts,
            },
        );
    }

    pub(super) fn kek_deleted(&mut self, name: &str, permanent: bool, ts: i64) {
        if permanent {
            self.keks.remove(name);
            let gone: Vec<DekKey> = self
                .deks
                .keys()
                .filter(|(kek, ..)| kek == name)
                .cloned()
                .collect();
            for key in gone {
                self.deks.remove(&key);
            }
        } else if let Some(entry) = self.keks.get_mut(name) {
            entry.kek.deleted = true;
            entry.ts = ts;
        }
    }

    pub(super) fn kek_undeleted(&mut self, name: &str, ts: i64) {
        if let Some(entry) = self.keks.get_mut(name) {
            entry.kek.deleted = false;
            entry.ts = ts;
        }
    }

    pub(super) fn dek_created(&mut self, dek: &StoredDek, ts: i64) {
        self.deks.insert(
            (
                dek.kek.clone(),
                dek.subject.clone(),
                dek.algorithm,
                dek.version,
            ),
            DekEntry {
                dek: dek.clone(),
                ts,
            },
        );
    }

    fn selected(
        &self,
        kek: &str,
        subject: &str,
        algorithm: DekAlgorithm,
        version: Option<i32>,
    ) -> Vec<DekKey> {
        self.versions(kek, subject, algorithm)
            .filter(|((.., v), _)| version.is_none_or(|wanted| *v == wanted))
            .map(|(key, _)| key.clone())
            .collect()
    }

    pub(super) fn dek_deleted(
        &mut self,
        kek: &str,
        subject: &str,
        algorithm: DekAlgorithm,
        version: Option<i32>,
        permanent: bool,
        ts: i64,
    ) {
        for key in self.selected(kek, subject, algorithm, version) {
            if permanent {
                self.deks.remove(&key);
            } else if let Some(entry) = self.deks.get_mut(&key) {
                if !entry.dek.deleted {
                    entry.dek.deleted = true;
                    entry.ts = ts;
                }
            }
        }
    }

    pub(super) fn dek_undeleted(
        &mut self,
        kek: &str,
        subject: &str,
        algorithm: DekAlgorithm,
        version: Option<i32>,
        ts: i64,
    ) {
        for key in self.selected(kek, subject, algorithm, version) {
            if let Some(entry) = self.deks.get_mut(&key) {
                if entry.dek.deleted {
                    entry.dek.deleted = false;
                    entry.ts = ts;
                }
            }
        }
    }
}

/// An association and when it was created and last changed.
#[derive(Clone, Debug, PartialEq)]
pub struct AssociationEntry {
    /// The association.
    pub association: StoredAssociation,
    /// When it was created.
    pub create_ts: i64,
    /// When it was last changed.
    pub update_ts: i64,
}

/// Associations by (resource id, association type).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Associations {
    /// The associations.
    pub entries: OrdMap<(String, String), AssociationEntry>,
}

impl Associations {
    /// The associations of a subject.
    pub fn of_subject<'a>(
        &'a self,
        subject: &'a QualifiedSubject,
    ) -> impl Iterator<Item = &'a AssociationEntry> + 'a {
        self.entries
            .values()
            .filter(move |entry| &entry.association.subject == subject)
    }

    /// The associations of a resource, by id.
    pub fn of_resource<'a>(
        &'a self,
        resource_id: &'a str,
    ) -> impl Iterator<Item = &'a AssociationEntry> + 'a {
        self.entries
            .range((resource_id.to_string(), String::new())..)
            .take_while(move |((id, _), _)| id == resource_id)
            .map(|(_, entry)| entry)
    }

    pub(super) fn set(&mut self, association: &StoredAssociation, ts: i64) {
        let key = (
            association.resource_id.clone(),
            association.association_type.clone(),
        );
        let create_ts = self.entries.get(&key).map_or(ts, |e| e.create_ts);
        self.entries.insert(
            key,
            AssociationEntry {
                association: association.clone(),
                create_ts,
                update_ts: ts,
            },
        );
    }

    pub(super) fn delete(&mut self, resource_id: &str, association_type: &str) {
        self.entries
            .remove(&(resource_id.to_string(), association_type.to_string()));
    }
}
