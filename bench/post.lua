-- wrk script: POST the body in the BODY environment variable (a compatibility check).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/vnd.schemaregistry.v1+json"
wrk.body = os.getenv("BODY")
