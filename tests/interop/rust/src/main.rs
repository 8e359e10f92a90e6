//! schema_registry_converter against covenant with credentials, as a user of that crate would
//! set it up: `covenant-interop-rust HTTP_URL HTTPS_URL CA_FILE`. User `team` (password
//! `team-pw`) may read, write and configure `team-*` subjects. Prints a line per check and exits
//! non-zero at the first failure.

use std::process::ExitCode;

use schema_registry_converter::async_impl::schema_registry::{
    get_schema_by_id, get_schema_by_subject, post_schema, SrSettings,
};
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};

const SCHEMA: &str = r#"{"type":"record","name":"Reading","namespace":"interop","fields":[{"name":"id","type":"long"}]}"#;

fn supplied() -> SuppliedSchema {
    SuppliedSchema::new(
        Some("interop.Reading".into()),
        SchemaType::Avro,
        SCHEMA.into(),
    )
}

fn settings(url: &str, password: &str, ca: Option<&[u8]>) -> Result<SrSettings, String> {
    let mut builder = SrSettings::new_builder(url.to_string());
    builder.set_basic_authorization("team", Some(password));
    let mut client = reqwest::Client::builder();
    if let Some(pem) = ca {
        let certificate = reqwest::Certificate::from_pem(pem).map_err(|e| e.to_string())?;
        client = client.tls_certs_only([certificate]);
    }
    builder.build_with(client).map_err(|e| format!("{e:?}"))
}

async fn register_and_read(url: &str, ca: Option<&[u8]>, subject: &str) -> Result<(), String> {
    let sr = settings(url, "team-pw", ca)?;
    let registered = post_schema(&sr, subject.to_string(), supplied())
        .await
        .map_err(|e| format!("registering {subject}: {e:?}"))?;
    let by_id = get_schema_by_id(registered.id, &sr)
        .await
        .map_err(|e| format!("reading id {}: {e:?}", registered.id))?;
    if !by_id.schema.contains("Reading") {
        return Err(format!(
            "id {} read back as {}",
            registered.id, by_id.schema
        ));
    }
    let latest = get_schema_by_subject(
        &sr,
        &SubjectNameStrategy::TopicNameStrategy(
            subject.trim_end_matches("-value").to_string(),
            false,
        ),
    )
    .await
    .map_err(|e| format!("reading the latest of {subject}: {e:?}"))?;
    if latest.id != registered.id {
        return Err(format!(
            "latest of {subject} has id {}, registered {}",
            latest.id, registered.id
        ));
    }
    Ok(())
}

async fn expect_status(
    what: &str,
    status: &str,
    call: impl std::future::Future<Output = Result<(), String>>,
) -> Result<(), String> {
    match call.await {
        Ok(()) => Err(format!(
            "{what}: expected HTTP {status}, but the call succeeded"
        )),
        Err(error) if error.contains(&format!("status {status}")) => Ok(()),
        Err(error) => Err(format!("{what}: expected HTTP {status}, got {error}")),
    }
}

async fn run(http: &str, https: &str, ca: &[u8]) -> Result<(), String> {
    register_and_read(http, None, "team-rust-value").await?;
    println!("ok schema_registry_converter: register and read with credentials");

    expect_status("a wrong password", "401", async {
        let sr = settings(http, "wrong-pw", None)?;
        get_schema_by_id(1, &sr)
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    })
    .await?;
    println!("ok schema_registry_converter: a wrong password is 401");

    expect_status("a subject outside the grant", "403", async {
        let sr = settings(http, "team-pw", None)?;
        post_schema(&sr, "other-rust-value".into(), supplied())
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    })
    .await?;
    println!("ok schema_registry_converter: a subject outside the grant is 403");

    register_and_read(https, Some(ca), "team-rust-tls-value").await?;
    println!("ok schema_registry_converter: register and read over HTTPS with the test CA");

    let sr = settings(https, "team-pw", None)?;
    match get_schema_by_id(1, &sr).await {
        Ok(_) => return Err("HTTPS without the test CA succeeded".into()),
        Err(_) => println!("ok schema_registry_converter: HTTPS without the test CA fails"),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let [_, http, https, ca] = args.as_slice() else {
        eprintln!("usage: covenant-interop-rust HTTP_URL HTTPS_URL CA_FILE");
        return ExitCode::from(2);
    };
    let ca = match std::fs::read(ca) {
        Ok(ca) => ca,
        Err(e) => {
            eprintln!("cannot read {ca}: {e}");
            return ExitCode::from(2);
        }
    };
    match run(http, https, &ca).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            println!("FAIL schema_registry_converter: {error}");
            ExitCode::FAILURE
        }
    }
}
