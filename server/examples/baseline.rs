//! The load benchmark's baseline: a trivial actix-web handler answering a fixed JSON body with the
//! registry's media type, on the same worker count. `bench/load.sh` measures it in the same run as
//! the registry so that the registry's figures read as ratios against the framework's own cost.
//!
//!     cargo run --release -p covenant-server --example baseline -- 127.0.0.1:0

use std::io::Write;

use actix_web::{web, App, HttpResponse, HttpServer};

const BODY: &str = r#"{"schema":"{\"type\":\"record\",\"name\":\"User\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"}]}"}"#;

async fn fixed() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/vnd.schemaregistry.v1+json")
        .body(BODY)
}

fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_string());
    actix_web::rt::System::new().block_on(async move {
        let listener = std::net::TcpListener::bind(&listen)?;
        println!("listening on http://{}", listener.local_addr()?);
        std::io::stdout().flush()?;
        HttpServer::new(|| App::new().default_service(web::to(fixed)))
            .listen(listener)?
            .run()
            .await
    })
}
