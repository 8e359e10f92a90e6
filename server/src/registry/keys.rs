//! The DEK registry (`/dek-registry/v1`): KEKs and the DEKs wrapped by them, as events in the
//! log like every other change. Key material a client sends is stored as given (wrapped by its
//! KEK) and never logged; for a shared KEK the registry makes and unwraps DEKs itself with the
//! KMS drivers it has (`crate::kms`).

use covenant_core::api::{self, CreateDekRequest, CreateKekRequest, UpdateKekRequest};
use covenant_core::ids::QualifiedSubject;
use serde_json::Value;

use super::query::Page;
use super::Registry;
use crate::access::{Caller, Operation, Resource};
use crate::error::{Error, Result};
use crate::kms::{DekAlgorithm, KmsError};
use crate::persist::{Actor, StoredDek, StoredKek};
use crate::plan::keys as plan;
use crate::state::State;

/// Which version of a DEK a read names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DekVersion {
    /// The highest version.
    Latest,
    /// One version.
    Number(i32),
}

fn kms_error(subject: &str, error: KmsError) -> Error {
    match error {
        KmsError::AccessDenied(reason) => Error::KmsAccessDenied(format!(
            "Could not generate encrypted dek for {subject}: {reason}"
        )),
        KmsError::Failed(reason) => Error::DekGeneration(format!(
            "Could not generate encrypted dek for {subject}: {reason}"
        )),
        KmsError::Unsupported(reason) => Error::UnprocessableEntity(format!(
            "Could not generate encrypted dek for {subject}: {reason}"
        )),
    }
}

fn kek_json(kek: &StoredKek, ts: i64) -> api::Kek {
    api::Kek {
        name: kek.name.clone(),
        kms_type: kek.kms_type.clone(),
        kms_key_id: kek.kms_key_id.clone(),
        kms_props: kek.kms_props.clone(),
        doc: kek.doc.clone(),
        shared: kek.shared,
        ts,
        deleted: kek.deleted.then_some(true),
    }
}

/// The subject a DEK is for, as the permission check names it.
fn dek_subject(subject: &str) -> Result<QualifiedSubject> {
    plan::check_subject(subject)?;
    QualifiedSubject::parse(subject).map_err(|_| Error::InvalidKey("subject".into()))
}

impl Registry {
    fn authorize_kek(&self, caller: &Caller, operation: Operation, name: &str) -> Result<()> {
        self.authorize(caller, operation, Resource::Kek(name))
    }

    fn dek_json(&self, state: &State, dek: &StoredDek, ts: i64) -> Result<api::Dek> {
        let kek = state.keys().keks.get(&dek.kek).map(|e| &e.kek);
        let key_material = match (kek, &dek.encrypted_key_material) {
            (Some(kek), Some(wrapped)) if kek.shared => Some(
                self.kms
                    .unwrap(&kek.kms_type, &kek.kms_key_id, &kek.kms_props, wrapped)
                    .map_err(|e| match e {
                        KmsError::AccessDenied(reason) => Error::KmsAccessDenied(format!(
                            "Could not generate raw dek for {}: {reason}",
                            dek.subject
                        )),
                        KmsError::Failed(reason) => Error::DekGeneration(format!(
                            "Could not generate raw dek for {}: {reason}",
                            dek.subject
                        )),
                        KmsError::Unsupported(reason) => Error::UnprocessableEntity(format!(
                            "Could not generate raw dek for {}: {reason}",
                            dek.subject
                        )),
                    })?,
            ),
            _ => None,
        };
        Ok(api::Dek {
            kek_name: dek.kek.clone(),
            subject: dek.subject.clone(),
            version: dek.version,
            algorithm: dek.algorithm.to_string(),
            encrypted_key_material: dek.encrypted_key_material.clone(),
            key_material,
            ts,
            deleted: dek.deleted.then_some(true),
        })
    }

    /// `GET /dek-registry/v1/keks`: KEK names (with `subjectPrefix`, those with DEKs for such
    /// subjects), in name order.
    pub fn list_keks(
        &self,
        caller: &Caller,
        subject_prefixes: &[&str],
        deleted: bool,
        page: Page,
    ) -> Vec<String> {
        let state = self.engine.state();
        let keys = state.keys();
        let names: Vec<String> = if subject_prefixes.is_empty() {
            keys.keks
                .values()
                .filter(|e| deleted || !e.kek.deleted)
                .map(|e| e.kek.name.clone())
                .collect()
        } else {
            let mut names: Vec<String> = keys
                .deks
                .values()
                .filter(|e| deleted || !e.dek.deleted)
                .filter(|e| {
                    subject_prefixes
                        .iter()
                        .any(|p| e.dek.subject.starts_with(p))
                })
                .map(|e| e.dek.kek.clone())
                .collect();
            names.sort();
            names.dedup();
            names
        };
        page.of(names.into_iter().filter(|name| {
            self.authorizer.is_open()
                || self
                    .authorizer
                    .permits(caller, Operation::Read, Resource::Kek(name))
        }))
    }

    /// `GET /dek-registry/v1/keks/{name}`.
    pub fn get_kek(&self, caller: &Caller, name: &str, deleted: bool) -> Result<api::Kek> {
        self.authorize_kek(caller, Operation::Read, name)?;
        let state = self.engine.state();
        let entry = state
            .keys()
            .keks
            .get(name)
            .filter(|e| deleted || !e.kek.deleted)
            .ok_or_else(|| Error::KeyNotFound(name.to_string()))?;
        Ok(kek_json(&entry.kek, entry.ts))
    }

    fn stored_kek_json(&self, name: &str) -> Result<api::Kek> {
        let state = self.engine.state();
        let entry = state
            .keys()
            .keks
            .get(name)
            .ok_or_else(|| Error::KeyNotFound(name.to_string()))?;
        Ok(kek_json(&entry.kek, entry.ts))
    }

    /// Checks that a shared KEK can wrap and unwrap a DEK (`testSharing`, `/test`).
    fn test_kek_sharing(&self, kek: &StoredKek) -> Result<()> {
        let (_, wrapped) = self
            .kms
            .new_dek(
                &kek.kms_type,
                &kek.kms_key_id,
                &kek.kms_props,
                DekAlgorithm::Aes256Gcm,
            )
            .map_err(|e| kms_error("__TEST", e))?;
        self.kms
            .unwrap(&kek.kms_type, &kek.kms_key_id, &kek.kms_props, &wrapped)
            .map_err(|e| kms_error("__TEST", e))?;
        Ok(())
    }

    /// `POST /dek-registry/v1/keks`.
    pub async fn create_kek(
        &self,
        caller: &Caller,
        request: &CreateKekRequest,
        test_sharing: bool,
    ) -> Result<api::Kek> {
        let name = request.name.clone().unwrap_or_default();
        plan::check_name(&name)?;
        self.authorize_kek(caller, Operation::Write, &name)?;
        let kms_key_id = request
            .kms_key_id
            .clone()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| Error::InvalidKey("kmsKeyId".into()))?;
        let kms_type = request
            .kms_type
            .clone()
            .ok_or_else(|| Error::InvalidKey("kmsType".into()))?;
        plan::check_key_id(&kms_type, &kms_key_id)?;
        let kek = StoredKek {
            name: name.clone(),
            kms_type: plan::normalize_kms_type(&kms_type),
            kms_key_id,
            kms_props: request.kms_props.clone().unwrap_or_default(),
            doc: request.doc.clone(),
            shared: request.shared,
            deleted: request.deleted,
        };
        if kek.shared && test_sharing {
            self.test_kek_sharing(&kek)?;
        }
        let settings = self.settings();
        self.engine
            .commit(&Actor::of(caller), |state| {
                plan::create_kek(state, kek.clone(), settings)
            })
            .await?;
        self.stored_kek_json(&name)
    }

    /// `PUT /dek-registry/v1/keks/{name}`.
    pub async fn update_kek(
        &self,
        caller: &Caller,
        name: &str,
        request: &UpdateKekRequest,
        test_sharing: bool,
    ) -> Result<api::Kek> {
        self.authorize_kek(caller, Operation::Write, name)?;
        let kms_props = match &request.kms_props {
            None => None,
            Some(Value::Null) => Some(Default::default()),
            Some(value) => Some(
                serde_json::from_value(value.clone())
                    .map_err(|e| Error::BadRequest(format!("`kmsProps`: {e}")))?,
            ),
        };
        let doc = match &request.doc {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(doc)) => Some(Some(doc.clone())),
            Some(other) => {
                return Err(Error::BadRequest(format!(
                    "`doc`: expected a string, got {other}"
                )))
            }
        };
        let shared = match &request.shared {
            None | Some(Value::Null) => None,
            Some(Value::Bool(shared)) => Some(*shared),
            Some(other) => {
                return Err(Error::BadRequest(format!(
                    "`shared`: expected true or false, got {other}"
                )))
            }
        };
        let update = plan::KekUpdate {
            kms_props,
            doc,
            shared,
        };
        if test_sharing {
            // Tested as it will be, before anything is written.
            self.engine.catch_up().await?;
            let planned = {
                let state = self.engine.state();
                plan::update_kek(&state, name, &update)?.answer().clone()
            };
            if planned.shared {
                self.test_kek_sharing(&planned)?;
            }
        }
        self.engine
            .commit(&Actor::of(caller), |state| {
                plan::update_kek(state, name, &update)
            })
            .await?;
        self.stored_kek_json(name)
    }

    /// `DELETE /dek-registry/v1/keks/{name}`.
    pub async fn delete_kek(&self, caller: &Caller, name: &str, permanent: bool) -> Result<()> {
        self.authorize_kek(caller, Operation::Delete, name)?;
        self.engine
            .commit(&Actor::of(caller), |state| {
                plan::delete_kek(state, name, permanent)
            })
            .await
    }

    /// `POST /dek-registry/v1/keks/{name}/undelete`.
    pub async fn undelete_kek(&self, caller: &Caller, name: &str) -> Result<()> {
        self.authorize_kek(caller, Operation::Write, name)?;
        self.engine
            .commit(&Actor::of(caller), |state| plan::undelete_kek(state, name))
            .await
    }

    /// `POST /dek-registry/v1/keks/{name}/test`: a shared KEK wraps and unwraps a DEK.
    pub fn test_kek(&self, caller: &Caller, name: &str) -> Result<Value> {
        self.authorize_kek(caller, Operation::Read, name)?;
        let (kek, ts) = {
            let state = self.engine.state();
            let entry = state
                .keys()
                .keks
                .get(name)
                .filter(|e| !e.kek.deleted)
                .ok_or_else(|| Error::KeyNotFound(name.to_string()))?;
            (entry.kek.clone(), entry.ts)
        };
        if !kek.shared {
            return Err(Error::InvalidKey("shared".into()));
        }
        self.test_kek_sharing(&kek)?;
        Ok(serde_json::json!({
            "name": kek.name,
            "kmsType": kek.kms_type,
            "kmsKeyId": kek.kms_key_id,
            "kmsProps": kek.kms_props,
            "doc": kek.doc,
            "shared": kek.shared,
            "type": "KEK",
            "deleted": kek.deleted,
            "ts": ts,
        }))
    }

    /// `GET /dek-registry/v1/keks/{kek}/deks`: the subjects with DEKs under a KEK.
    pub fn list_dek_subjects(
        &self,
        caller: &Caller,
        kek: &str,
        deleted: bool,
        page: Page,
    ) -> Result<Vec<String>> {
        self.authorize_kek(caller, Operation::Read, kek)?;
        let state = self.engine.state();
        plan::kek(&state, kek, deleted)?;
        let mut subjects: Vec<String> = state
            .keys()
            .of_kek(kek)
            .filter(|e| deleted || !e.dek.deleted)
            .map(|e| e.dek.subject.clone())
            .collect();
        subjects.dedup();
        Ok(page.of(subjects.into_iter().filter(|s| {
            self.authorizer.is_open()
                || QualifiedSubject::parse(s).is_ok_and(|q| self.may_read(caller, &q))
        })))
    }

    /// `POST /dek-registry/v1/keks/{kek}/deks/{subject}`.
    pub async fn create_dek(
        &self,
        caller: &Caller,
        kek_name: &str,
        subject: &str,
        request: &CreateDekRequest,
        rewrap: bool,
    ) -> Result<api::Dek> {
        let qualified = dek_subject(subject)?;
        self.authorize(caller, Operation::Write, Resource::Subject(&qualified))?;
        let algorithm: DekAlgorithm = match &request.algorithm {
            None => DekAlgorithm::Aes256Gcm,
            Some(name) => name
                .parse()
                .map_err(|_| Error::InvalidKey("algorithm".into()))?,
        };
        let version = match request.version {
            None => 1,
            Some(v) => i32::try_from(v).map_err(|_| Error::InvalidKey("version".into()))?,
        };
        // Decided against the log's head, not a follower's view that may lag it.
        self.engine.catch_up().await?;
        // The material: as given; for a shared KEK without it, made (or, on a rewrap, the
        // existing key wrapped again) here, outside the planner.
        let material = {
            let state = self.engine.state();
            let kek = plan::kek(&state, kek_name, request.deleted)?.clone();
            match &request.encrypted_key_material {
                Some(given) if kek.shared => {
                    // The registry serves this DEK unwrapped: it must open before it is kept.
                    self.kms
                        .unwrap(&kek.kms_type, &kek.kms_key_id, &kek.kms_props, given)
                        .map_err(|e| kms_error(subject, e))?;
                    Some(given.clone())
                }
                Some(given) => Some(given.clone()),
                None if kek.shared => {
                    let old = plan::dek(&state, kek_name, subject, algorithm, version)
                        .and_then(|e| e.dek.encrypted_key_material.clone());
                    Some(match old {
                        Some(old) if rewrap => {
                            let key = self
                                .kms
                                .unwrap(&kek.kms_type, &kek.kms_key_id, &kek.kms_props, &old)
                                .map_err(|e| kms_error(subject, e))?;
                            self.kms
                                .wrap(&kek.kms_type, &kek.kms_key_id, &kek.kms_props, &key)
                                .map_err(|e| kms_error(subject, e))?
                        }
                        _ => {
                            self.kms
                                .new_dek(&kek.kms_type, &kek.kms_key_id, &kek.kms_props, algorithm)
                                .map_err(|e| kms_error(subject, e))?
                                .1
                        }
                    })
                }
                None => None,
            }
        };
        let new = plan::NewDek {
            dek: StoredDek {
                kek: kek_name.to_string(),
                subject: subject.to_string(),
                version,
                algorithm,
                encrypted_key_material: material,
                deleted: request.deleted,
            },
            material_given: request.encrypted_key_material.is_some(),
            rewrap,
        };
        let settings = self.settings();
        self.engine
            .commit(&Actor::of(caller), |state| {
                plan::create_dek(state, &new, settings)
            })
            .await?;
        self.get_dek(
            caller,
            kek_name,
            subject,
            DekVersion::Number(version),
            algorithm,
            true,
        )
    }

    /// `GET /dek-registry/v1/keks/{kek}/deks/{subject}[/versions/{v}]`.
    pub fn get_dek(
        &self,
        caller: &Caller,
        kek_name: &str,
        subject: &str,
        version: DekVersion,
        algorithm: DekAlgorithm,
        deleted: bool,
    ) -> Result<api::Dek> {
        let qualified = dek_subject(subject)?;
        self.authorize(caller, Operation::Read, Resource::Subject(&qualified))?;
        let state = self.engine.state();
        plan::kek(&state, kek_name, deleted)?;
        let entry = state
            .keys()
            .versions(kek_name, subject, algorithm)
            .map(|(_, e)| e)
            .rfind(|e| {
                (deleted || !e.dek.deleted)
                    && match version {
                        DekVersion::Latest => true,
                        DekVersion::Number(v) => e.dek.version == v,
                    }
            })
            .ok_or_else(|| Error::KeyNotFound(subject.to_string()))?;
        self.dek_json(&state, &entry.dek, entry.ts)
    }

    /// `GET /dek-registry/v1/keks/{kek}/deks/{subject}/versions`.
    pub fn list_dek_versions(
        &self,
        caller: &Caller,
        kek_name: &str,
        subject: &str,
        algorithm: DekAlgorithm,
        deleted: bool,
        page: Page,
    ) -> Result<Vec<i32>> {
        let qualified = dek_subject(subject)?;
        self.authorize(caller, Operation::Read, Resource::Subject(&qualified))?;
        let state = self.engine.state();
        plan::kek(&state, kek_name, deleted)?;
        let versions: Vec<i32> = state
            .keys()
            .versions(kek_name, subject, algorithm)
            .filter(|(_, e)| deleted || !e.dek.deleted)
            .map(|((.., v), _)| *v)
            .collect();
        Ok(page.of(versions.into_iter()))
    }

    /// `DELETE /dek-registry/v1/keks/{kek}/deks/{subject}[/versions/{v}]`.
    pub async fn delete_dek(
        &self,
        caller: &Caller,
        kek_name: &str,
        subject: &str,
        version: Option<DekVersion>,
        algorithm: DekAlgorithm,
        permanent: bool,
    ) -> Result<()> {
        let qualified = dek_subject(subject)?;
        self.authorize(caller, Operation::Delete, Resource::Subject(&qualified))?;
        // Decided against the log's head, not a follower's view that may lag it.
        self.engine.catch_up().await?;
        let version = self.resolve_dek_version(kek_name, subject, algorithm, version)?;
        self.engine
            .commit(&Actor::of(caller), |state| {
                plan::delete_dek(state, kek_name, subject, algorithm, version, permanent)
            })
            .await
    }

    /// `POST /dek-registry/v1/keks/{kek}/deks/{subject}[/versions/{v}]/undelete`.
    pub async fn undelete_dek(
        &self,
        caller: &Caller,
        kek_name: &str,
        subject: &str,
        version: Option<DekVersion>,
        algorithm: DekAlgorithm,
    ) -> Result<()> {
        let qualified = dek_subject(subject)?;
        self.authorize(caller, Operation::Write, Resource::Subject(&qualified))?;
        // Decided against the log's head, not a follower's view that may lag it.
        self.engine.catch_up().await?;
        let version = self.resolve_dek_version(kek_name, subject, algorithm, version)?;
        self.engine
            .commit(&Actor::of(caller), |state| {
                plan::undelete_dek(state, kek_name, subject, algorithm, version)
            })
            .await
    }

    fn resolve_dek_version(
        &self,
        kek_name: &str,
        subject: &str,
        algorithm: DekAlgorithm,
        version: Option<DekVersion>,
    ) -> Result<Option<i32>> {
        Ok(match version {
            None => None,
            Some(DekVersion::Number(v)) => Some(v),
            Some(DekVersion::Latest) => {
                let state = self.engine.state();
                let latest = state
                    .keys()
                    .versions(kek_name, subject, algorithm)
                    .next_back()
                    .map(|((.., v), _)| *v);
                Some(latest.ok_or_else(|| Error::KeyNotFound(subject.to_string()))?)
            }
        })
    }
}
