"""Authentication and TLS interop with real Python clients of the Schema Registry API.

    python auth_clients.py HTTP_URL HTTPS_URL CA_FILE

Both URLs name a covenant started with an auth file in which user `team` (password `team-pw`)
may read, write and configure subjects `team-*` and nothing else; HTTPS_URL serves a
certificate signed by CA_FILE for 127.0.0.1 and localhost. The clients:

- confluent-kafka's SchemaRegistryClient (`basic.auth.user.info`, `ssl.ca.location`) and its
  AvroSerializer/AvroDeserializer;
- python-schema-registry-client (marcosschroh; `auth=httpx.BasicAuth(...)`).

For each: the right credentials register and read back a schema (by id and as the latest
version, through a second client so the read goes over the wire rather than to the cache), a
wrong password gives HTTP 401, and a subject outside the grant gives HTTP 403 with error_code
40301. Over HTTPS: registering and reading with the CA, and failing TLS verification without it.

One line per check; the first failure exits 1 with what was expected and what came back.
"""
import json
import ssl
import os
import sys

import httpx  # python-schema-registry-client's HTTP library (confluent-kafka uses httpx2)
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from schema_registry.client import SchemaRegistryClient as PsrcClient
from schema_registry.client import schema as psrc_schema
from schema_registry.client.errors import ClientError

# A CA named by the environment would make the "without the CA" checks meaningless.
for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
    os.environ.pop(variable, None)

GOOD = ("team", "team-pw")
WRONG = ("team", "wrong-pw")

AVRO = {
    "type": "record", "name": "Login", "namespace": "interop.auth",
    "fields": [
        {"name": "user", "type": "string"},
        {"name": "attempts", "type": "int"},
        {"name": "source", "type": ["null", "string"], "default": None},
    ],
}
AVRO_STR = json.dumps(AVRO)
RECORD = {"user": "aladdin", "attempts": 3, "source": "cave"}


class CheckFailed(Exception):
    pass


def check(name, fn):
    try:
        detail = fn()
    except CheckFailed as e:
        fail(name, str(e))
    except Exception as e:  # an unexpected exception is a failure too, with its type
        fail(name, f"unexpected {type(e).__module__}.{type(e).__name__}: {e}")
    print(f"ok    {name}" + (f": {detail}" if detail else ""), flush=True)


def fail(name, message):
    print(f"FAIL  {name}: {message}", flush=True)
    sys.exit(1)


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def raises(fn, kind):
    """Calls fn, which must raise `kind`; returns the exception."""
    try:
        value = fn()
    except kind as e:
        return e
    raise CheckFailed(f"expected {kind.__name__}, but the call succeeded and returned {value!r}")


def same_schema(text_or_dict):
    got = json.loads(text_or_dict) if isinstance(text_or_dict, str) else text_or_dict
    return got == AVRO


def tls_verification_error(e):
    """True when e, or an exception it was raised from, is a certificate verification failure."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(e):
            return True
        e = e.__cause__ or e.__context__
    return False


# confluent-kafka ------------------------------------------------------------------------------

def confluent(url, user=None, **extra):
    conf = {"url": url, **extra}
    if user is not None:
        conf["basic.auth.user.info"] = f"{user[0]}:{user[1]}"
    return SchemaRegistryClient(conf)


def confluent_error(fn, status, code, subject=None):
    e = raises(fn, SchemaRegistryError)
    got = (e.http_status_code, e.error_code)
    expect(got == (status, code),
           f"expected HTTP {status} error_code {code}, got HTTP {got[0]} error_code {got[1]} ({e.error_message!r})")
    if subject is not None:
        expect(subject in (e.error_message or ""), f"message {e.error_message!r} does not name {subject}")
    return f"HTTP {e.http_status_code}, error_code {e.error_code}, {e.error_message!r}"


def confluent_register_and_read(url, subject, **extra):
    sid = confluent(url, GOOD, **extra).register_schema(subject, Schema(AVRO_STR, "AVRO"))
    expect(isinstance(sid, int) and sid > 0, f"register_schema returned {sid!r}")
    reader = confluent(url, GOOD, **extra)  # a second client: its cache is empty
    by_id = reader.get_schema(sid)
    expect(same_schema(by_id.schema_str), f"schema {sid} reads back as {by_id.schema_str!r}")
    latest = reader.get_latest_version(subject)
    expect(latest.schema_id == sid, f"latest version of {subject} has id {latest.schema_id}, not {sid}")
    expect(same_schema(latest.schema.schema_str), f"latest of {subject} is {latest.schema.schema_str!r}")
    return f"id {sid}, latest version {latest.version}"


def confluent_checks(http, https, ca):
    c = "confluent-kafka"
    check(f"{c}: register and read team-confluent-value with the right password",
          lambda: confluent_register_and_read(http, "team-confluent-value"))
    check(f"{c}: wrong password, get_subjects gives 401",
          lambda: confluent_error(lambda: confluent(http, WRONG).get_subjects(), 401, 401))
    check(f"{c}: wrong password, register_schema gives 401",
          lambda: confluent_error(lambda: confluent(http, WRONG).register_schema(
              "team-confluent-value", Schema(AVRO_STR, "AVRO")), 401, 401))
    check(f"{c}: no credentials, get_subjects gives 401",
          lambda: confluent_error(lambda: confluent(http).get_subjects(), 401, 401))
    check(f"{c}: register other-confluent-value gives 403 40301",
          lambda: confluent_error(lambda: confluent(http, GOOD).register_schema(
              "other-confluent-value", Schema(AVRO_STR, "AVRO")), 403, 40301, "other-confluent-value"))

    check(f"{c}: over HTTPS with ssl.ca.location, register and read team-confluent-tls-value",
          lambda: confluent_register_and_read(https, "team-confluent-tls-value", **{"ssl.ca.location": ca}))
    check(f"{c}: over HTTPS with ssl.ca.location, wrong password gives 401",
          lambda: confluent_error(lambda: confluent(https, WRONG, **{"ssl.ca.location": ca}).get_subjects(), 401, 401))

    def without_ca():
        e = raises(lambda: confluent(https, GOOD, **{"max.retries": 0}).get_subjects(), Exception)
        expect(not isinstance(e, SchemaRegistryError), f"the server answered: {e}")
        expect(tls_verification_error(e), f"not a certificate verification error: {type(e).__name__}: {e}")
        return f"{type(e).__name__}: {e}"
    check(f"{c}: over HTTPS without the CA, TLS verification fails", without_ca)

    def serde():
        topic = "team-confluent-serde"
        ctx = SerializationContext(topic, MessageField.VALUE)
        payload = AvroSerializer(confluent(http, GOOD), AVRO_STR)(RECORD, ctx)
        expect(payload[:1] == b"\x00", f"no magic byte: {payload[:5].hex()}")
        sid = int.from_bytes(payload[1:5], "big")
        latest = confluent(http, GOOD).get_latest_version(f"{topic}-value")
        expect(latest.schema_id == sid, f"payload names schema {sid}, the subject's latest is {latest.schema_id}")
        value = AvroDeserializer(confluent(http, GOOD))(payload, ctx)
        expect(value == RECORD, f"decoded {value!r}, expected {RECORD!r}")
        return f"schema {sid}, {len(payload)} bytes"
    check(f"{c}: AvroSerializer/AvroDeserializer round-trip through team-confluent-serde-value", serde)

    def serde_wrong_password():
        ctx = SerializationContext("team-confluent-serde", MessageField.VALUE)
        e = raises(lambda: AvroSerializer(confluent(http, WRONG), AVRO_STR)(RECORD, ctx), Exception)
        cause = e if isinstance(e, SchemaRegistryError) else (e.__cause__ or e.__context__)
        expect(isinstance(cause, SchemaRegistryError) and cause.http_status_code == 401,
               f"expected a SchemaRegistryError with HTTP 401, got {type(e).__name__}: {e}")
        return f"{type(e).__name__}: {e}"
    check(f"{c}: AvroSerializer with a wrong password fails with 401", serde_wrong_password)


# python-schema-registry-client ----------------------------------------------------------------

def psrc(url, user=None, ca=None):
    client = PsrcClient(url, auth=httpx.BasicAuth(*user) if user else None)
    if ca is not None:
        # The client applies ca_location only together with a client certificate (auth.md 3.3);
        # it builds a new httpx.Client from client_kwargs for every request, so this takes effect.
        client.client_kwargs["verify"] = ssl.create_default_context(cafile=ca)
    return client


def psrc_error(fn, status, code, subject=None):
    e = raises(fn, ClientError)
    body = e.server_traceback if isinstance(e.server_traceback, dict) else {}
    got = (e.http_code, body.get("error_code"))
    expect(got == (status, code),
           f"expected HTTP {status} error_code {code}, got HTTP {got[0]}, body {e.server_traceback!r} ({e.message!r})")
    if subject is not None:
        expect(subject in body.get("message", ""), f"message {body.get('message')!r} does not name {subject}")
    return f"ClientError({e.message!r}), http_code {e.http_code}, body {e.server_traceback}"


def psrc_register_and_read(url, subject, ca=None):
    sid = psrc(url, GOOD, ca).register(subject, psrc_schema.AvroSchema(AVRO))
    expect(isinstance(sid, int) and sid > 0, f"register returned {sid!r}")
    reader = psrc(url, GOOD, ca)  # a second client: its cache is empty
    by_id = reader.get_by_id(sid)
    expect(by_id is not None and same_schema(by_id.raw_schema), f"schema {sid} reads back as {by_id!r}")
    # get_schema answers None for any failure, 401 included, so None is a failure here.
    latest = reader.get_schema(subject)
    expect(latest is not None, f"get_schema({subject!r}) returned None")
    expect(latest.schema_id == sid, f"latest version of {subject} has id {latest.schema_id}, not {sid}")
    expect(same_schema(latest.schema.raw_schema), f"latest of {subject} is {latest.schema!r}")
    return f"id {sid}, latest version {latest.version}"


def psrc_checks(http, https, ca):
    c = "python-schema-registry-client"
    check(f"{c}: register and read team-psrc-value with the right password",
          lambda: psrc_register_and_read(http, "team-psrc-value"))
    check(f"{c}: wrong password, get_subjects gives 401",
          lambda: psrc_error(lambda: psrc(http, WRONG).get_subjects(), 401, 401))
    check(f"{c}: wrong password, register gives 401",
          lambda: psrc_error(lambda: psrc(http, WRONG).register("team-psrc-value", psrc_schema.AvroSchema(AVRO)),
                             401, 401))
    check(f"{c}: no credentials (it sends Basic Og==), get_subjects gives 401",
          lambda: psrc_error(lambda: psrc(http).get_subjects(), 401, 401))
    # register() first looks the schema up (POST /subjects/{s}), which needs Read: the 403 comes
    # from that call, as "Unable to get version of a schema".
    check(f"{c}: register other-psrc-value gives 403 40301",
          lambda: psrc_error(lambda: psrc(http, GOOD).register("other-psrc-value", psrc_schema.AvroSchema(AVRO)),
                             403, 40301, "other-psrc-value"))
    check(f"{c}: over HTTPS with an SSL context for the CA, register and read team-psrc-tls-value",
          lambda: psrc_register_and_read(https, "team-psrc-tls-value", ca))

    def without_ca():
        e = raises(lambda: psrc(https, GOOD).get_subjects(), Exception)
        expect(not isinstance(e, ClientError), f"the server answered: {e!r}")
        expect(tls_verification_error(e), f"not a certificate verification error: {type(e).__name__}: {e}")
        return f"{type(e).__name__}: {e}"
    check(f"{c}: over HTTPS without the CA, TLS verification fails", without_ca)

    # Not a check on covenant: shows whether the client's own ca_location works yet (auth.md 3.3).
    try:
        PsrcClient(https, ca_location=ca, auth=httpx.BasicAuth(*GOOD)).get_subjects()
        print(f"note  {c}: ca_location alone now verifies the server (the workaround above may go)")
    except Exception as e:
        print(f"note  {c}: ca_location alone is still ignored without a client certificate "
              f"({type(e).__name__}: {e})")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python auth_clients.py HTTP_URL HTTPS_URL CA_FILE")
    http_url, https_url, ca_file = sys.argv[1:4]
    confluent_checks(http_url, https_url, ca_file)
    psrc_checks(http_url, https_url, ca_file)
    print("all python auth interop checks passed")
