//! Issue 4: the example pipeline through a real broker (NATS JetStream on 127.0.0.1:4222, or
//! `NATS_URL`): the producer moves to a new schema version mid-stream; the consumer reads old and
//! new events with its reader schema.

mod common;

#[path = "../client/examples/nats_pipeline.rs"]
mod pipeline;

use common::Server;

#[test]
fn producer_moves_to_v2_mid_stream_and_the_consumer_reads_both() {
    let server = Server::start();
    let nats = std::env::var("NATS_URL").unwrap_or_else(|_| "127.0.0.1:4222".to_string());
    let unique = common::unique();
    let stream = format!("COVENANT_TEST_{unique}");
    let subject = format!("covenant.test.{unique}");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let read = runtime
        .block_on(pipeline::run(&server.url, &nats, &stream, &subject, 4))
        .unwrap_or_else(|e| {
            panic!("the pipeline failed (is NATS with JetStream running at {nats}?): {e}")
        });
    assert_eq!(read.len(), 8);
    let (old, new) = read.split_at(4);
    // Old events resolve into the new shape with the default; new events keep their value.
    for (i, (_, reading)) in old.iter().enumerate() {
        assert_eq!(
            reading,
            &pipeline::Reading {
                sensor: format!("s{i}"),
                celsius: 20.0 + i as f64,
                battery: 100
            }
        );
    }
    for (i, (_, reading)) in new.iter().enumerate() {
        assert_eq!(reading.battery, 50 + i as i32);
    }
    assert_ne!(old[0].0, new[0].0, "the producer moved to a new schema id");
    // Leave the broker as it was.
    runtime.block_on(async {
        let nats = async_nats::connect(&nats).await.expect("connects");
        async_nats::jetstream::new(nats)
            .delete_stream(&stream)
            .await
            .expect("stream deleted");
    });
    assert!(old.iter().all(|(id, _)| *id == old[0].0) && new.iter().all(|(id, _)| *id == new[0].0));
}
