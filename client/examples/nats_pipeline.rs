//! A producer and a consumer over NATS JetStream, with the producer moving to a new compatible
//! schema version mid-stream and the consumer reading old and new events with its reader schema.
//!
//!     COVENANT_REGISTRY=http://127.0.0.1:8081 NATS_URL=127.0.0.1:4222 \
//!         cargo run -p covenant-client --example nats_pipeline
//!
//! The broker only carries bytes: the contract travels as the schema id in each event.

use async_nats::jetstream;
use covenant_client::serde::avro::{AvroDeserializer, AvroSerializer};
use covenant_client::{Client, SerializerConfig};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

/// Version 1 of the event.
pub const READING_V1: &str = r#"{"type":"record","name":"Reading","namespace":"demo","fields":[{"name":"sensor","type":"string"},{"name":"celsius","type":"double"}]}"#;
/// Version 2 adds a field with a default: old events still read.
pub const READING_V2: &str = r#"{"type":"record","name":"Reading","namespace":"demo","fields":[{"name":"sensor","type":"string"},{"name":"celsius","type":"double"},{"name":"battery","type":"int","default":100}]}"#;

/// What producers of version 1 write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingV1 {
    /// Sensor name.
    pub sensor: String,
    /// Temperature.
    pub celsius: f64,
}

/// What producers of version 2 write, and what the consumer reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Sensor name.
    pub sensor: String,
    /// Temperature.
    pub celsius: f64,
    /// Battery level; 100 for events written before it existed.
    pub battery: i32,
}

/// Publishes `per_version` events with each schema version to `subject` on a JetStream stream,
/// then consumes them all with the version-2 reader schema. Returns what the consumer read and
/// the schema id of each event.
pub async fn run(
    registry: &str,
    nats: &str,
    stream: &str,
    subject: &str,
    per_version: usize,
) -> Result<Vec<(i32, Reading)>, Box<dyn std::error::Error + Send + Sync>> {
    let client = Client::new(registry)?;
    let nats = async_nats::connect(nats).await?;
    let jetstream = jetstream::new(nats);
    let stream = jetstream
        .get_or_create_stream(jetstream::stream::Config {
            name: stream.to_string(),
            subjects: vec![subject.to_string()],
            ..Default::default()
        })
        .await?;

    // The producer starts on version 1 ...
    let v1 = AvroSerializer::new(
        client.clone(),
        READING_V1,
        vec![],
        SerializerConfig::default(),
    )?;
    for i in 0..per_version {
        let event = ReadingV1 {
            sensor: format!("s{i}"),
            celsius: 20.0 + i as f64,
        };
        let bytes = v1.serialize_serde(subject, &event).await?;
        jetstream
            .publish(subject.to_string(), bytes.into())
            .await?
            .await?;
    }
    // ... and moves to version 2 mid-stream (the registry checks it is compatible).
    let v2 = AvroSerializer::new(
        client.clone(),
        READING_V2,
        vec![],
        SerializerConfig::default(),
    )?;
    for i in 0..per_version {
        let event = Reading {
            sensor: format!("s{i}"),
            celsius: 30.0 + i as f64,
            battery: 50 + i as i32,
        };
        let bytes = v2.serialize_serde(subject, &event).await?;
        jetstream
            .publish(subject.to_string(), bytes.into())
            .await?
            .await?;
    }

    // The consumer reads everything with the version-2 reader schema.
    let reader = AvroDeserializer::new(client, Some(READING_V2))?;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await?;
    let mut messages = consumer
        .fetch()
        .max_messages(per_version * 2)
        .messages()
        .await?;
    let mut read = Vec::new();
    while let Some(message) = messages.next().await {
        let message = message?;
        let id = i32::from_be_bytes(message.payload[1..5].try_into()?);
        read.push((
            id,
            reader.deserialize_into::<Reading>(&message.payload).await?,
        ));
        message.ack().await?;
    }
    Ok(read)
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let registry =
        std::env::var("COVENANT_REGISTRY").unwrap_or_else(|_| "http://127.0.0.1:8081".into());
    let nats = std::env::var("NATS_URL").unwrap_or_else(|_| "127.0.0.1:4222".into());
    for (id, reading) in run(&registry, &nats, "COVENANT_DEMO", "demo.readings", 3).await? {
        println!("schema {id}: {reading:?}");
    }
    Ok(())
}
