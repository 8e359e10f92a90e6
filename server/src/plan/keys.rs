//! The DEK registry's writes (`/dek-registry/v1`), as Confluent's `AbstractDekRegistry` decides
//! them: KEKs and DEKs created, updated, soft-deleted, removed and restored.

use std::collections::BTreeMap;

use super::Decision;
use crate::error::{Error, Result};
use crate::kms::DekAlgorithm;
use crate::persist::{Event, StoredDek, StoredKek};
use crate::settings::Settings;
use crate::state::keys::DekEntry;
use crate::state::State;

/// A KEK's name: 1 to 256 characters, a letter or `_`, then letters, digits, `_` or `-`.
pub fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let valid = name.chars().count() <= 256
        && chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidKey("name".into()))
    }
}

/// A DEK's subject: not empty, no control characters.
pub fn check_subject(subject: &str) -> Result<()> {
    if subject.is_empty() || subject.chars().any(char::is_control) {
        Err(Error::InvalidKey("subject".into()))
    } else {
        Ok(())
    }
}

/// Confluent's normal form of a KMS type: `aws*`, `azure*`, `gcp*` to `aws-kms`, `azure-kms`,
/// `gcp-kms`; anything else as given.
pub fn normalize_kms_type(kms_type: &str) -> String {
    let lower = kms_type.to_ascii_lowercase();
    if lower.starts_with("aws") {
        "aws-kms".into()
    } else if lower.starts_with("azure") {
        "azure-kms".into()
    } else if lower.starts_with("gcp") {
        "gcp-kms".into()
    } else {
        kms_type.to_string()
    }
}

/// Whether a KMS key id has the shape its KMS type needs.
pub fn check_key_id(kms_type: &str, key_id: &str) -> Result<()> {
    let fits = match kms_type {
        "aws-kms" => key_id.starts_with("arn:aws:kms:"),
        "azure-kms" => key_id.starts_with("https://"),
        "gcp-kms" => key_id.starts_with("projects/"),
        "hcvault" => key_id.starts_with("https://") || key_id.starts_with("http://"),
        _ => true,
    };
    if fits {
        Ok(())
    } else {
        Err(Error::InvalidKey("kmsKeyId".into()))
    }
}

fn equivalent_kek(a: &StoredKek, b: &StoredKek) -> bool {
    a.name == b.name
        && a.kms_type == b.kms_type
        && a.kms_key_id == b.kms_key_id
        && a.kms_props == b.kms_props
        && a.doc == b.doc
        && a.shared == b.shared
}

/// Room for one more key of a kind (KEKs or DEKs, counted apart as Confluent counts them, the
/// soft-deleted ones included: they are kept). A create over a key that is there adds nothing.
fn check_room(stored: usize, max_keys: usize) -> Result<()> {
    if stored >= max_keys {
        return Err(Error::TooManyKeys(max_keys));
    }
    Ok(())
}

/// `POST /keks`. Over a live KEK it is refused (40971); over a soft-deleted one, an equivalent
/// create brings it back.
pub fn create_kek(
    state: &State,
    kek: StoredKek,
    settings: &Settings,
) -> Result<Decision<StoredKek>> {
    match state.keys().keks.get(&kek.name) {
        Some(old) => {
            if kek.deleted == old.kek.deleted || !equivalent_kek(&kek, &old.kek) {
                return Err(Error::KeyExists(kek.name));
            }
        }
        None => check_room(state.keys().keks.len(), settings.max_keys)?,
    }
    Ok(Decision::append(
        Event::KekCreated { kek: kek.clone() },
        kek,
    ))
}

/// What `PUT /keks/{name}` changes; `None` leaves a value as it is.
#[derive(Clone, Debug, Default)]
pub struct KekUpdate {
    /// New KMS properties.
    pub kms_props: Option<BTreeMap<String, String>>,
    /// A new description (`Some(None)` clears it).
    pub doc: Option<Option<String>>,
    /// Sharing.
    pub shared: Option<bool>,
}

/// `PUT /keks/{name}`: the live KEK with the changes; unchanged, nothing is written.
pub fn update_kek(state: &State, name: &str, update: &KekUpdate) -> Result<Decision<StoredKek>> {
    let old = state
        .keys()
        .keks
        .get(name)
        .filter(|e| !e.kek.deleted)
        .ok_or_else(|| Error::KeyNotFound(name.to_string()))?;
    let mut kek = old.kek.clone();
    if let Some(props) = &update.kms_props {
        kek.kms_props = props.clone();
    }
    if let Some(doc) = &update.doc {
        kek.doc = doc.clone();
    }
    if let Some(shared) = update.shared {
        kek.shared = shared;
    }
    if equivalent_kek(&kek, &old.kek) {
        return Ok(Decision::Answer(kek));
    }
    Ok(Decision::append(
        Event::KekUpdated { kek: kek.clone() },
        kek,
    ))
}

/// `DELETE /keks/{name}`: refused while DEKs use it (live ones for a soft delete, any for a
/// permanent one); a permanent delete needs a soft delete first.
pub fn delete_kek(state: &State, name: &str, permanent: bool) -> Result<Decision<()>> {
    let entry = state
        .keys()
        .keks
        .get(name)
        .ok_or_else(|| Error::KeyNotFound(name.to_string()))?;
    let referenced = state
        .keys()
        .of_kek(name)
        .any(|dek| permanent || !dek.dek.deleted);
    if referenced {
        return Err(Error::KeyReferenceExists(name.to_string()));
    }
    if permanent && !entry.kek.deleted {
        return Err(Error::KeyNotSoftDeleted(name.to_string()));
    }
    if !permanent && entry.kek.deleted {
        return Ok(Decision::Answer(()));
    }
    Ok(Decision::append(
        Event::KekDeleted {
            name: name.to_string(),
            permanent,
        },
        (),
    ))
}

/// `POST /keks/{name}/undelete` (its DEKs stay as they are).
pub fn undelete_kek(state: &State, name: &str) -> Result<Decision<()>> {
    let entry = state
        .keys()
        .keks
        .get(name)
        .ok_or_else(|| Error::KeyNotFound(name.to_string()))?;
    if !entry.kek.deleted {
        return Ok(Decision::Answer(()));
    }
    Ok(Decision::append(
        Event::KekUndeleted {
            name: name.to_string(),
        },
        (),
    ))
}

/// The KEK a DEK operation names: live, or (with `deleted`) soft-deleted too.
pub fn kek<'s>(state: &'s State, name: &str, deleted: bool) -> Result<&'s StoredKek> {
    state
        .keys()
        .keks
        .get(name)
        .map(|e| &e.kek)
        .filter(|kek| deleted || !kek.deleted)
        .ok_or_else(|| Error::KeyNotFound(name.to_string()))
}

/// The stored DEK at a version (soft-deleted included).
pub fn dek<'s>(
    state: &'s State,
    kek: &str,
    subject: &str,
    algorithm: DekAlgorithm,
    version: i32,
) -> Option<&'s DekEntry> {
    state
        .keys()
        .deks
        .get(&(kek.to_string(), subject.to_string(), algorithm, version))
}

/// A DEK to create: the request's, with the key material the registry made for a shared KEK.
#[derive(Clone, Debug)]
pub struct NewDek {
    /// The DEK.
    pub dek: StoredDek,
    /// Whether the request gave the material (rather than the registry making it).
    pub material_given: bool,
    /// `rewrap=true`: an existing version is wrapped again.
    pub rewrap: bool,
}

/// `POST /keks/{kek}/deks/{subject}`. Over an existing version it is refused (40971), unless
/// an equivalent create brings a soft-deleted one back, or `rewrap` wraps it again.
pub fn create_dek(state: &State, new: &NewDek, settings: &Settings) -> Result<Decision<StoredDek>> {
    let dek = &new.dek;
    let kek = kek(state, &dek.kek, dek.deleted)?;
    let old = self::dek(state, &dek.kek, &dek.subject, dek.algorithm, dek.version);
    if old.is_none() {
        check_room(state.keys().deks.len(), settings.max_keys)?;
    }
    if let Some(old) = old {
        if !new.rewrap {
            let equivalent = old.dek.encrypted_key_material == dek.encrypted_key_material;
            if dek.deleted == old.dek.deleted || !equivalent || (kek.shared && new.material_given) {
                return Err(Error::KeyExists(dek.subject.clone()));
            }
        }
    }
    if dek.encrypted_key_material.is_none() {
        return Err(Error::InvalidKey("encryptedKeyMaterial".into()));
    }
    Ok(Decision::append(
        Event::DekCreated { dek: dek.clone() },
        dek.clone(),
    ))
}

/// `DELETE /keks/{kek}/deks/{subject}[/versions/{v}]`: soft-deletes (or removes) one version
/// or all versions of the algorithm; a permanent delete needs them soft-deleted first.
pub fn delete_dek(
    state: &State,
    kek_name: &str,
    subject: &str,
    algorithm: DekAlgorithm,
    version: Option<i32>,
    permanent: bool,
) -> Result<Decision<()>> {
    kek(state, kek_name, true)?;
    let selected: Vec<&DekEntry> = state
        .keys()
        .versions(kek_name, subject, algorithm)
        .filter(|((.., v), _)| version.is_none_or(|wanted| *v == wanted))
        .map(|(_, e)| e)
        .collect();
    if selected.is_empty() {
        return Err(Error::KeyNotFound(subject.to_string()));
    }
    if permanent && selected.iter().any(|e| !e.dek.deleted) {
        return Err(Error::KeyNotSoftDeleted(subject.to_string()));
    }
    if !permanent && selected.iter().all(|e| e.dek.deleted) {
        return Ok(Decision::Answer(()));
    }
    Ok(Decision::append(
        Event::DekDeleted {
            kek: kek_name.to_string(),
            subject: subject.to_string(),
            algorithm,
            version,
            permanent,
        },
        (),
    ))
}

/// `POST /keks/{kek}/deks/{subject}[/versions/{v}]/undelete`: the KEK must be live.
pub fn undelete_dek(
    state: &State,
    kek_name: &str,
    subject: &str,
    algorithm: DekAlgorithm,
    version: Option<i32>,
) -> Result<Decision<()>> {
    let kek = kek(state, kek_name, true)?;
    let selected: Vec<&DekEntry> = state
        .keys()
        .versions(kek_name, subject, algorithm)
        .filter(|((.., v), _)| version.is_none_or(|wanted| *v == wanted))
        .map(|(_, e)| e)
        .collect();
    if selected.is_empty() {
        return Err(Error::KeyNotFound(subject.to_string()));
    }
    if kek.deleted {
        return Err(Error::KeySoftDeleted(kek_name.to_string()));
    }
    if selected.iter().all(|e| !e.dek.deleted) {
        return Ok(Decision::Answer(()));
    }
    Ok(Decision::append(
        Event::DekUndeleted {
            kek: kek_name.to_string(),
            subject: subject.to_string(),
            algorithm,
            version,
        },
        (),
    ))
}
