//! Serialize and deserialize throughput for a 20-field Avro record through the crate (schema
//! cached, so no HTTP) against plain apache-avro encoding of the same values with a writer and
//! reader built once, measured in the same run. The difference is the cost of framing, the id
//! lookup in the cache and the validation path.
//!
//!     cargo bench -p covenant-client --bench serde

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use covenant_client::api::SchemaString;
use covenant_client::serde::avro::{AvroDeserializer, AvroSerializer};
use covenant_client::{Client, SerializerConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const BATCH: usize = 1000;
const ID: i32 = 42;

fn schema_text() -> String {
    let fields: Vec<String> = (0..20)
        .map(|i| {
            let kind = ["long", "string", "double", "boolean", "int"][i % 5];
            format!(r#"{{"name":"f{i}","type":"{kind}"}}"#)
        })
        .collect();
    format!(
        r#"{{"type":"record","name":"Event","namespace":"bench","fields":[{}]}}"#,
        fields.join(",")
    )
}

fn value(n: usize) -> Value {
    Value::Record(
        (0..20)
            .map(|i| {
                let field = match i % 5 {
                    0 => Value::Long(n as i64 * 31 + i as i64),
                    1 => Value::String(format!("value-{n}-{i}")),
                    2 => Value::Double(n as f64 * 0.5),
                    3 => Value::Boolean(n.is_multiple_of(2)),
                    _ => Value::Int(i),
                };
                (format!("f{i}"), field)
            })
            .collect(),
    )
}

fn bench(c: &mut Criterion) {
    let text = schema_text();
    let schema = Schema::parse_str(&text).expect("schema");
    let values: Vec<Value> = (0..BATCH).map(value).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    // The crate, with the schema in its cache: no registry is contacted.
    let client = Client::new("http://127.0.0.1:9").expect("client");
    client.cache_schema(
        ID,
        SchemaString {
            schema_type: None,
            schema: text.clone(),
            references: vec![],
            metadata: None,
            rule_set: None,
            max_id: None,
            guid: None,
        },
    );
    let config = SerializerConfig {
        use_schema_id: Some(ID),
        ..SerializerConfig::default()
    };
    let serializer =
        AvroSerializer::new(client.clone(), &text, vec![], config).expect("serializer");
    let deserializer = AvroDeserializer::new(client, None).expect("deserializer");
    let framed: Vec<Vec<u8>> = runtime.block_on(async {
        let mut out = Vec::new();
        for value in &values {
            out.push(
                serializer
                    .serialize("bench", value)
                    .await
                    .expect("serializes"),
            );
        }
        out
    });

    // Plain apache-avro, writer and reader built once.
    let writer = GenericDatumWriter::builder(&schema)
        .build()
        .expect("writer");
    let reader = GenericDatumReader::builder(&schema)
        .build()
        .expect("reader");
    let plain: Vec<Vec<u8>> = values
        .iter()
        .map(|v| writer.write_value_to_vec(v.clone()).expect("encodes"))
        .collect();
    assert_eq!(
        plain[0],
        framed[0][5..],
        "the same Avro bytes after the 5-byte frame"
    );

    let mut group = c.benchmark_group("avro-20-fields");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("serialize: plain apache-avro (baseline)", |b| {
        b.iter(|| {
            for value in &values {
                let mut out = Vec::with_capacity(256);
                writer.write_value_ref(&mut out, value).expect("encodes");
                std::hint::black_box(out);
            }
        })
    });
    group.bench_function("serialize: covenant-client", |b| {
        b.iter(|| {
            runtime.block_on(async {
                for value in &values {
                    std::hint::black_box(
                        serializer
                            .serialize("bench", value)
                            .await
                            .expect("serializes"),
                    );
                }
            })
        })
    });
    group.bench_function("deserialize: plain apache-avro (baseline)", |b| {
        b.iter(|| {
            for bytes in &plain {
                std::hint::black_box(reader.read_value(&mut bytes.as_slice()).expect("decodes"));
            }
        })
    });
    group.bench_function("deserialize: covenant-client", |b| {
        b.iter(|| {
            runtime.block_on(async {
                for bytes in &framed {
                    std::hint::black_box(deserializer.deserialize(bytes).await.expect("decodes"));
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
