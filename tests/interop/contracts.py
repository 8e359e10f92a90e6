"""Data-contract interop: confluent-kafka's own serdes and rule executors against covenant.

    python contracts.py URL WORKDIR [produce|consume|all] [--only CHECK[,CHECK...]] [--run-id ID] [--keep-going]
                        [--from js|rs]

URL names a covenant without auth (plain HTTP). WORKDIR is a folder shared with the Node script
(tests/interop/node/contracts.mjs) for the cross-language encryption payloads. Needs
confluent-kafka 2.16.1 and the part of its `rules` extra that CEL, JSONata and the local KMS use
(the extra's cloud KMS SDKs are not needed):

    pip install "confluent-kafka[avro,schemaregistry]==2.16.1" cel-python==0.5.0 \
        google-re2==1.1.20250805 jsonata-python==0.7.1 hkdf==0.0.3 tink==1.16.1 pyyaml==6.0.4

Every subject, topic and KEK is named `py-<what>-<run id>` (the run id is random unless
--run-id is given), so this script, the Node one (`js-...`) and a rerun all fit on one server.
One line per check; the first failure prints FAIL and exits 1 (with --keep-going it goes on with
the next group, or the next case where cases are independent, and exits 1 at the end).

Checks (select groups with --only; default: all of them):
  cel             CEL condition (domain rule, WRITE): a bad record is refused by the serializer
                  with the client's RuleConditionError; a good one round-trips.
  cel-field       CEL_FIELD transform (WRITE) on the field tagged PII with `confluent:tags`:
                  the deserialized record shows the masked value, the untagged field is as sent.
  jsonata         compatibilityGroup `application.major.version`; v1 (major 1) and v2 (major 2,
                  a breaking rename size -> height) with UPGRADE and DOWNGRADE JSONATA rules;
                  written with use.latest.with.metadata major 1 and read with major 2 (upgraded),
                  and the reverse (downgraded).
  encrypt         field-level ENCRYPT with the local KMS: the serializer creates the KEK and the
                  DEK in /dek-registry/v1, the PII field is AES-GCM ciphertext on the wire (checked
                  with the DEK independently of the client), the deserializer decrypts it. Writes
                  WORKDIR/py-encrypted.json ("local") for the Node script.
  encrypt-shared  a KEK registered with shared=true: the registry makes the DEK itself (no
                  encryptedKeyMaterial in the request) with its own local KMS secret and answers
                  keyMaterial; the client never needs that secret. The wrapped DEK must open with
                  SERVER_SECRET (below) and not with the client's. Adds "shared" to
                  WORKDIR/py-encrypted.json.
  defaults        config defaultMetadata/overrideMetadata/defaultRuleSet/overrideRuleSet merged
                  into what register_schema stores, read back with get_latest_version.
  carryover       a version registered without metadata/ruleSet carries the previous version's;
                  one registered with its own replaces them.
  rule-validation every ruleSet the registry must refuse with HTTP 422, error_code 42210 and
                  Confluent's message (missing/empty/too long/illegal names, missing type,
                  duplicate names also across phases, wrong modes per phase, two actions with
                  a non-WRITEREAD mode); nothing is stored; a valid ruleSet then registers.
  associations    the default subject name strategy (AssociatedNameStrategy) uses `<topic>-value`
                  for a topic without an association, and the associated subject for a topic with
                  one (POST /associations, WEAK, non-default subject), with the wildcard namespace
                  and with subject.name.strategy.kafka.cluster.id; another cluster id falls back.

Modes: `produce` runs the selected checks and writes WORKDIR/py-encrypted.json; `consume` only
decrypts WORKDIR/js-encrypted.json (written by the Node script) with this client's deserializer;
`all` (the default) does both. Both directions of the cross-language encryption check, against
one server (the payloads need its KEKs, DEKs and schemas):

    python contracts.py URL DIR produce      # writes DIR/py-encrypted.json
    node node/contracts.mjs URL DIR all       # decrypts it, writes DIR/js-encrypted.json
    python contracts.py URL DIR consume      # decrypts DIR/js-encrypted.json

With --only, consume decrypts the payloads of the selected encryption checks only (`encrypt` ->
"local", `encrypt-shared` -> "shared").

Secrets: the client-side local KMS secret (rule config `secret`) is CLIENT_SECRET. A shared KEK
is wrapped by the registry's own local KMS, which must be configured with SERVER_SECRET
(default below, or the environment variable COVENANT_INTEROP_SERVER_SECRET, which must then be
the same for the server and both scripts).
"""
import base64
import io
import json
import os
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastavro import parse_schema, schemaless_reader

from confluent_kafka.schema_registry import (
    AssociationCreateOrUpdateInfo,
    AssociationCreateOrUpdateRequest,
    Metadata,
    RuleSet,
    Schema,
    SchemaRegistryClient,
    SchemaRegistryError,
    ServerConfig,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.common.serde import RuleConditionError
from confluent_kafka.schema_registry.rules.cel.cel_executor import CelExecutor
from confluent_kafka.schema_registry.rules.cel.cel_field_executor import CelFieldExecutor
from confluent_kafka.schema_registry.rules.encryption.dek_registry.dek_registry_client import DekRegistryClient
from confluent_kafka.schema_registry.rules.encryption.encrypt_executor import FieldEncryptionExecutor
from confluent_kafka.schema_registry.rules.encryption.localkms.local_client import LocalKmsClient
from confluent_kafka.schema_registry.rules.encryption.localkms.local_driver import LocalKmsDriver
from confluent_kafka.schema_registry.rules.jsonata.jsonata_executor import JsonataExecutor
from confluent_kafka.schema_registry.serde import KAFKA_CLUSTER_ID
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError

# The client's local KMS secret (the rule config key `secret`), for non-shared KEKs. Both
# scripts use the same one: each decrypts the other's payload with it.
CLIENT_SECRET = "covenant-interop-client-secret"
# The registry's local KMS secret, which wraps the DEKs of shared KEKs. The server must be
# started with exactly this secret (Confluent: the KMS config key `secret` or LOCAL_SECRET).
SERVER_SECRET = os.environ.get("COVENANT_INTEROP_SERVER_SECRET", "covenant-interop-server-secret")
RULE_CONF = {"secret": CLIENT_SECRET}
KMS_KEY_ID = "covenant-interop-key"  # local KMS ignores the key id (HKDF of the secret only)
CLUSTER_ID = "py-interop-cluster"

ALL_CHECKS = ["cel", "cel-field", "jsonata", "encrypt", "encrypt-shared", "defaults", "carryover",
              "rule-validation", "associations"]
PAYLOAD_KINDS = {"encrypt": "local", "encrypt-shared": "shared"}

# The client's own executors and the local KMS driver, registered as an application would.
CelExecutor.register()
CelFieldExecutor.register()
JsonataExecutor.register()
FieldEncryptionExecutor.register()
LocalKmsDriver.register()


class CheckFailed(Exception):
    pass


class GroupAborted(Exception):
    """--keep-going: a check failed; the rest of its group depends on it."""


KEEP_GOING = False
FAILURES = []


def check(name, fn, independent=False):
    """Runs fn; prints `ok    name: detail`, or FAIL and exits 1 (with --keep-going: records the
    failure and abandons the group, or, for an `independent` check, goes on with the next one)."""
    try:
        detail = fn()
    except CheckFailed as e:
        return fail(name, str(e), independent)
    except Exception as e:  # an unexpected exception is a failure too, with its cause chain
        return fail(name, f"unexpected {chain(e)}", independent)
    text = detail[-1] if isinstance(detail, tuple) else detail
    text = text if isinstance(text, (str, int)) else None
    print(f"ok    {name}" + (f": {text}" if text not in (None, "") else ""), flush=True)
    return detail


def fail(name, message, independent=False):
    print(f"FAIL  {name}: {message}", flush=True)
    if not KEEP_GOING:
        sys.exit(1)
    FAILURES.append(name)
    if not independent:
        raise GroupAborted(name)


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def chain(e):
    """`Type: message <- Cause: message ...`, following __cause__/__context__."""
    parts, seen = [], set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        text = str(e)
        if isinstance(e, SchemaRegistryError):
            text = f"HTTP {e.http_status_code} error_code {e.error_code}: {e.error_message}"
        parts.append(f"{type(e).__name__}" + (f": {text}" if text else ""))
        e = e.__cause__ or e.__context__
    return " <- ".join(parts)


def causes(e):
    seen = []
    while e is not None and e not in seen:
        seen.append(e)
        e = e.__cause__ or e.__context__
    return seen


def raises(fn, kind):
    try:
        value = fn()
    except kind as e:
        return e
    raise CheckFailed(f"expected {kind.__name__}, but the call succeeded and returned {short(value)}")


def short(value, limit=160):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def http(method, url, body=None):
    """A plain request (no client caches): (status, parsed JSON body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/vnd.schemaregistry.v1+json",
        "Accept": "application/vnd.schemaregistry.v1+json, application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


def rule(**fields):
    return {k: v for k, v in fields.items() if v is not None}


def record_schema(name, fields):
    return {"type": "record", "name": name, "namespace": "interop.contracts", "fields": fields}


def value_ctx(topic):
    return SerializationContext(topic, MessageField.VALUE)


class Env:
    def __init__(self, url, workdir, run_id):
        self.url = url.rstrip("/")
        self.workdir = workdir
        self.run_id = run_id
        self.conf = {"url": self.url}  # one client config: the executors bind to the first they see
        self.client = SchemaRegistryClient(self.conf)
        self.payloads = {}

    def name(self, what):
        return f"py-{what}-{self.run_id}"

    def fresh_client(self):
        """A client with empty caches, so reads go over the wire."""
        return SchemaRegistryClient(dict(self.conf))

    def serializer(self, schema, conf=None):
        return AvroSerializer(self.client, json.dumps(schema), conf=conf, rule_conf=RULE_CONF)

    def latest_serializer(self, schema, **extra):
        return self.serializer(schema, {"auto.register.schemas": False, "use.latest.version": True, **extra})

    def deserializer(self, conf=None):
        return AvroDeserializer(self.client, conf=conf, rule_conf=RULE_CONF)

    def register(self, subject, schema, metadata=None, rule_set=None):
        return self.client.register_schema_full_response(subject, Schema(
            json.dumps(schema), "AVRO",
            metadata=Metadata.from_dict(metadata) if metadata is not None else None,
            rule_set=RuleSet.from_dict(rule_set) if rule_set is not None else None))

    def write_payloads(self):
        path = os.path.join(self.workdir, "py-encrypted.json")
        with open(path, "w") as f:
            json.dump(self.payloads, f, indent=2)
        return path


def rule_names(rule_set, phase="domain_rules"):
    return [r.name for r in (getattr(rule_set, phase, None) or [])] if rule_set is not None else []


def properties(metadata):
    return dict(metadata.properties.properties) if metadata is not None and metadata.properties else {}


# a. CEL condition ------------------------------------------------------------------------------

ORDER = record_schema("Order", [{"name": "id", "type": "string"}, {"name": "amount", "type": "int"}])


def cel_checks(env):
    topic = env.name("cel")
    subject = f"{topic}-value"
    expr = "message.amount > 0"
    check(f"cel: register {subject} with a CEL CONDITION domain rule (WRITE)", lambda: "id {}".format(
        env.register(subject, ORDER, rule_set={"domainRules": [rule(
            name="positiveAmount", kind="CONDITION", mode="WRITE", type="CEL", expr=expr)]}).schema_id))
    serializer = env.latest_serializer(ORDER)
    good = {"id": "o-1", "amount": 42}

    def refused():
        e = raises(lambda: serializer({"id": "o-2", "amount": -5}, value_ctx(topic)), SerializationError)
        conditions = [c for c in causes(e) if isinstance(c, RuleConditionError)]
        expect(conditions, f"the SerializationError has no RuleConditionError cause: {chain(e)}")
        expect(str(conditions[0]) == f"Rule expr failed: {expr}", f"condition message {str(conditions[0])!r}")
        return chain(e)
    check("cel: a bad record (amount -5) is refused by AvroSerializer", refused)

    def accepted():
        payload = serializer(good, value_ctx(topic))
        got = env.deserializer()(payload, value_ctx(topic))
        expect(got == good, f"read back {got!r}, expected {good!r}")
        return f"{len(payload)} bytes, schema {int.from_bytes(payload[1:5], 'big')}"
    check("cel: a good record (amount 42) serializes and reads back", accepted)


# b. CEL_FIELD transform on a PII-tagged field --------------------------------------------------

CUSTOMER = record_schema("Customer", [
    {"name": "name", "type": "string"},
    {"name": "ssn", "type": "string", "confluent:tags": ["PII"]},
])


def cel_field_checks(env):
    topic = env.name("celfield")
    subject = f"{topic}-value"
    check(f"cel-field: register {subject} with a CEL_FIELD transform on tag PII (WRITE)", lambda: "id {}".format(
        env.register(subject, CUSTOMER, rule_set={"domainRules": [rule(
            name="maskPii", kind="TRANSFORM", mode="WRITE", type="CEL_FIELD", tags=["PII"],
            expr="typeName == 'STRING' ; 'masked:' + value")]}).schema_id))

    def masked():
        sent = {"name": "Ada", "ssn": "123-45-6789"}
        payload = env.latest_serializer(CUSTOMER)(sent, value_ctx(topic))
        expect(b"masked:123-45-6789" in payload, "the masked ssn is not on the wire: the transform did not run on write")
        got = env.deserializer()(payload, value_ctx(topic))
        expected = {"name": "Ada", "ssn": "masked:123-45-6789"}
        expect(got == expected, f"read back {got!r}, expected {expected!r}")
        return f"read back {got}"
    check("cel-field: the tagged field is transformed, the untagged one is not", masked)


# c. JSONata migration between compatibility groups ---------------------------------------------

WIDGET_V1 = record_schema("Widget", [{"name": "name", "type": "string"}, {"name": "size", "type": "int"}])
WIDGET_V2 = record_schema("Widget", [{"name": "name", "type": "string"}, {"name": "height", "type": "int"}])
UPGRADE = "$merge([$sift($, function($v, $k) {$k != 'size'}), {'height': $.'size'}])"
DOWNGRADE = "$merge([$sift($, function($v, $k) {$k != 'height'}), {'size': $.'height'}])"


def jsonata_checks(env):
    topic = env.name("migrate")
    subject = f"{topic}-value"
    major = "application.major.version"

    def config():
        env.client.set_config(subject, ServerConfig(compatibility_group=major))
        got = env.fresh_client().get_config(subject).compatibility_group
        expect(got == major, f"compatibilityGroup reads back as {got!r}")
        return f"compatibilityGroup {got}"
    check(f"jsonata: set compatibilityGroup {major} on {subject}", config)

    def register_both():
        v1 = env.register(subject, WIDGET_V1, metadata={"properties": {major: "1"}})
        v2 = env.register(subject, WIDGET_V2, metadata={"properties": {major: "2"}}, rule_set={"migrationRules": [
            rule(name="sizeToHeight", kind="TRANSFORM", mode="UPGRADE", type="JSONATA", expr=UPGRADE),
            rule(name="heightToSize", kind="TRANSFORM", mode="DOWNGRADE", type="JSONATA", expr=DOWNGRADE),
        ]})
        expect(v1.schema_id != v2.schema_id, f"both versions got id {v1.schema_id}")
        return f"v1 id {v1.schema_id}, v2 (breaking rename) id {v2.schema_id}"
    check("jsonata: register v1 (major 1) and v2 (major 2, size renamed to height, UPGRADE/DOWNGRADE rules)",
          register_both)

    def control():
        other = env.name("migrate-nogroup") + "-value"
        env.register(other, WIDGET_V1, metadata={"properties": {major: "1"}})
        e = raises(lambda: env.register(other, WIDGET_V2, metadata={"properties": {major: "2"}}), SchemaRegistryError)
        expect(e.http_status_code == 409, f"expected HTTP 409, got {chain(e)}")
        return f"{other}: HTTP 409 error_code {e.error_code}"
    check("jsonata: control: without the compatibilityGroup the same v2 is refused as incompatible", control)

    def with_major(n):
        return {major: n}

    def upgrade():
        payload = env.serializer(WIDGET_V1, {"auto.register.schemas": False, "use.latest.with.metadata": with_major("1")})(
            {"name": "w", "size": 7}, value_ctx(topic))
        got = env.deserializer({"use.latest.with.metadata": with_major("2")})(payload, value_ctx(topic))
        expect(got == {"name": "w", "height": 7}, f"read back {got!r}, expected the upgraded {{'name': 'w', 'height': 7}}")
        return f"read back {got}"
    check("jsonata: written as major 1, read as major 2: UPGRADE applied", upgrade)

    def downgrade():
        payload = env.serializer(WIDGET_V2, {"auto.register.schemas": False, "use.latest.with.metadata": with_major("2")})(
            {"name": "w", "height": 9}, value_ctx(topic))
        got = env.deserializer({"use.latest.with.metadata": with_major("1")})(payload, value_ctx(topic))
        expect(got == {"name": "w", "size": 9}, f"read back {got!r}, expected the downgraded {{'name': 'w', 'size': 9}}")
        return f"read back {got}"
    check("jsonata: written as major 2, read as major 1: DOWNGRADE applied", downgrade)


# d. Field-level encryption with the local KMS --------------------------------------------------

PATIENT = record_schema("Patient", [
    {"name": "id", "type": "string"},
    {"name": "ssn", "type": "string", "confluent:tags": ["PII"]},
    {"name": "note", "type": "string"},
])


def encrypt_rule(kek):
    return {"domainRules": [rule(name="encryptPii", kind="TRANSFORM", mode="WRITEREAD", type="ENCRYPT", tags=["PII"],
                                 params={"encrypt.kek.name": kek, "encrypt.kms.type": "local-kms",
                                         "encrypt.kms.key.id": KMS_KEY_ID})]}


def key_proto_aes256(raw):
    """The 32-byte AES key inside a serialized Tink AesGcmKey proto (version 0): 1a 20 <key>."""
    expect(len(raw) == 34 and raw[:2] == b"\x1a\x20", f"DEK key material is not an AES256 AesGcmKey proto: {raw.hex()}")
    return raw[2:]


def open_field(payload, schema, field, key):
    """Decodes the Avro payload without any rule and opens `field` (base64 of iv|ct|tag) with key."""
    expect(payload[:1] == b"\x00", f"no magic byte: {payload[:5].hex()}")
    record = schemaless_reader(io.BytesIO(payload[5:]), parse_schema(schema))
    ciphertext = base64.b64decode(record[field], validate=True)
    expect(len(ciphertext) >= 28, f"{field} ciphertext is {len(ciphertext)} bytes")
    return record, AESGCM(key).decrypt(ciphertext[:12], ciphertext[12:], b"").decode()


def local_kms_open(secret, wrapped_b64):
    return LocalKmsClient(secret).get_aead(f"local-kms://{KMS_KEY_ID}").decrypt(base64.b64decode(wrapped_b64), b"")


def encrypt_flow(env, what, kek, shared):
    topic = env.name(what)
    subject = f"{topic}-value"
    sent = {"id": "p-1", "ssn": f"{what}-999-12-3456", "note": "visible"}
    check(f"{what}: register {subject} with an ENCRYPT rule on tag PII (kek {kek}, local-kms)",
          lambda: "id {}".format(env.register(subject, PATIENT, rule_set=encrypt_rule(kek)).schema_id))
    payload = check(f"{what}: AvroSerializer encrypts the PII field",
                    lambda: env.latest_serializer(PATIENT)(dict(sent), value_ctx(topic)))  # it rewrites the dict
    expect_plain = sent["ssn"].encode()
    check(f"{what}: the plaintext ssn is not on the wire, the untagged note is",
          lambda: (expect(expect_plain not in payload, "the plaintext ssn is in the payload"),
                   expect(b"visible" in payload, "the untagged note is not in the payload"),
                   f"{len(payload)} bytes")[-1])

    def kek_stored():
        status, body = http("GET", f"{env.url}/dek-registry/v1/keks/{urllib.parse.quote(kek)}")
        expect(status == 200, f"GET kek: HTTP {status} {body}")
        got = (body.get("kmsType"), body.get("kmsKeyId"), body.get("shared"))
        expect(got == ("local-kms", KMS_KEY_ID, shared), f"kek is {body}")
        return f"{body}"
    check(f"{what}: the KEK {kek} is in /dek-registry/v1/keks (shared={str(shared).lower()})", kek_stored)

    def dek_stored():
        status, body = http("GET", f"{env.url}/dek-registry/v1/keks/{urllib.parse.quote(kek)}/deks/"
                                   f"{urllib.parse.quote(subject, safe='')}/versions/1?algorithm=AES256_GCM&deleted=false")
        expect(status == 200, f"GET dek: HTTP {status} {body}")
        expect((body.get("kekName"), body.get("subject"), body.get("version"), body.get("algorithm")) ==
               (kek, subject, 1, "AES256_GCM"), f"dek is {body}")
        expect(body.get("encryptedKeyMaterial"), f"dek has no encryptedKeyMaterial: {body}")
        if shared:
            expect(body.get("keyMaterial"), f"a shared KEK's DEK comes without keyMaterial: {body}")
            raw = base64.b64decode(body["keyMaterial"])
            try:
                unwrapped = local_kms_open(SERVER_SECRET, body["encryptedKeyMaterial"])
            except Exception as e:
                raise CheckFailed(f"encryptedKeyMaterial does not open with the server secret {SERVER_SECRET!r} "
                                  f"(is the server configured with it?): {chain(e)}")
            expect(unwrapped == raw, "encryptedKeyMaterial opened with the server secret differs from keyMaterial")
            try:
                local_kms_open(CLIENT_SECRET, body["encryptedKeyMaterial"])
                raise CheckFailed("the server wrapped the DEK with the client's secret, not its own")
            except CheckFailed:
                raise
            except Exception:
                pass
        else:
            expect("keyMaterial" not in body, f"a non-shared KEK's DEK carries keyMaterial: {body}")
            raw = local_kms_open(CLIENT_SECRET, body["encryptedKeyMaterial"])
        return key_proto_aes256(raw), f"encryptedKeyMaterial {len(base64.b64decode(body['encryptedKeyMaterial']))} bytes"
    key, dek_detail = check(f"{what}: the DEK for {subject} is stored"
                            + (" with the registry's keyMaterial, wrapped with SERVER_SECRET" if shared
                               else ", wrapped with the client's local KMS"), dek_stored)

    def wire():
        record, plain = open_field(payload, PATIENT, "ssn", key)
        expect(plain == sent["ssn"], f"the field opens to {plain!r}")
        expect(record["note"] == "visible" and record["id"] == "p-1", f"other fields {record}")
        return f"ssn on the wire {record['ssn'][:24]}... opens with the DEK to {plain!r}"
    check(f"{what}: the field is base64(iv|AES-256-GCM|tag) under that DEK", wire)

    def read_back():
        got = env.deserializer()(payload, value_ctx(topic))
        expect(got == sent, f"read back {got!r}, expected {sent!r}")
        return f"read back {got}"
    check(f"{what}: AvroDeserializer decrypts it", read_back)

    env.payloads["shared" if shared else "local"] = {
        "language": "python", "topic": topic, "subject": subject, "kek": kek, "shared": shared,
        "secret": CLIENT_SECRET, "server_secret": SERVER_SECRET if shared else None,
        "payload_hex": payload.hex(), "plaintext": sent["ssn"], "expected": sent,
    }
    print(f"note  wrote {env.write_payloads()} ({', '.join(sorted(env.payloads))})", flush=True)


def encrypt_checks(env):
    encrypt_flow(env, "encrypt", env.name("kek"), shared=False)


def encrypt_shared_checks(env):
    kek = env.name("kek-shared")

    def register_shared():
        dek_client = DekRegistryClient({"url": env.url})
        try:
            got = dek_client.register_kek(kek, "local-kms", KMS_KEY_ID, shared=True)
        except SchemaRegistryError as e:
            if e.http_status_code != 409:
                raise
            got = dek_client.get_kek(kek)
        expect(got.shared is True and got.kms_type == "local-kms", f"registered {got}")
        return f"{got.name} {got.kms_type}://{got.kms_key_id} shared={got.shared}"
    check(f"encrypt-shared: DekRegistryClient.register_kek({kek}, shared=True)", register_shared)
    encrypt_flow(env, "encrypt-shared", kek, shared=True)


# e. Data-contract semantics through the client API ---------------------------------------------

ACCOUNT = record_schema("Account", [{"name": "id", "type": "string"}])
ACCOUNT_V2 = record_schema("Account", [{"name": "id", "type": "string"},
                                       {"name": "label", "type": "string", "default": ""}])


def cond(name, expr="true"):
    return rule(name=name, kind="CONDITION", mode="WRITE", type="CEL", expr=expr)


def defaults_checks(env):
    subject = env.name("defaults") + "-value"

    def configure():
        env.client.set_config(subject, ServerConfig(
            default_metadata=Metadata.from_dict({"properties": {"owner": "nobody", "region": "eu"}}),
            override_metadata=Metadata.from_dict({"properties": {"tier": "gold"}}),
            default_rule_set=RuleSet.from_dict({"domainRules": [cond("defaultCheck")]}),
            override_rule_set=RuleSet.from_dict({"domainRules": [cond("overrideCheck")]})))
        got = env.fresh_client().get_config(subject)
        expect(properties(got.default_metadata) == {"owner": "nobody", "region": "eu"}
               and properties(got.override_metadata) == {"tier": "gold"}
               and rule_names(got.default_rule_set) == ["defaultCheck"]
               and rule_names(got.override_rule_set) == ["overrideCheck"], f"config reads back as {got}")
        return "config stored"
    check(f"defaults: set defaultMetadata/overrideMetadata/defaultRuleSet/overrideRuleSet on {subject}", configure)

    def first():
        registered = env.register(subject, ACCOUNT, metadata={"properties": {"owner": "alice", "tier": "bronze"}})
        latest = env.fresh_client().get_latest_version(subject)
        expect(latest.schema_id == registered.schema_id, f"latest id {latest.schema_id}, registered {registered.schema_id}")
        got_props = properties(latest.schema.metadata)
        want = {"owner": "alice", "region": "eu", "tier": "gold"}
        expect(got_props == want, f"metadata properties {got_props}, expected {want} (default < request < override)")
        got_rules = rule_names(latest.schema.rule_set)
        expect(got_rules == ["defaultCheck", "overrideCheck"], f"domain rules {got_rules}, expected default then override")
        return f"version {latest.version}: properties {got_props}, rules {got_rules}"
    check("defaults: register with metadata {owner: alice, tier: bronze} and no rules; the stored version merges "
          "the defaults and overrides", first)

    def second():
        env.register(subject, ACCOUNT, rule_set={"domainRules": [cond("mine")]})
        latest = env.fresh_client().get_latest_version(subject)
        got_rules = rule_names(latest.schema.rule_set)
        want = ["defaultCheck", "mine", "overrideCheck"]
        expect(got_rules == want, f"domain rules {got_rules}, expected {want}")
        got_props = properties(latest.schema.metadata)
        expect(got_props == {"owner": "alice", "region": "eu", "tier": "gold"}, f"metadata properties {got_props}")
        return f"version {latest.version}: rules {got_rules}, properties {got_props}"
    check("defaults: register with its own rule `mine` and no metadata; rules merge by name, metadata carries over",
          second)


def carryover_checks(env):
    subject = env.name("carry") + "-value"

    def v1():
        got = env.register(subject, ACCOUNT, metadata={"properties": {"owner": "bob"}},
                           rule_set={"domainRules": [cond("idPresent", "message.id != ''")]})
        return f"id {got.schema_id}"
    check(f"carryover: register v1 of {subject} with metadata {{owner: bob}} and rule idPresent", v1)

    def v2():
        env.register(subject, ACCOUNT_V2)
        latest = env.fresh_client().get_latest_version(subject)
        expect(latest.version == 2, f"latest is version {latest.version}")
        got_props, got_rules = properties(latest.schema.metadata), rule_names(latest.schema.rule_set)
        expect(got_props == {"owner": "bob"}, f"v2 metadata properties {got_props}, expected v1's {{'owner': 'bob'}}")
        expect(got_rules == ["idPresent"], f"v2 domain rules {got_rules}, expected v1's ['idPresent']")
        return f"v2 properties {got_props}, rules {got_rules}"
    check("carryover: v2 registered without metadata or ruleSet carries v1's", v2)

    def v3():
        env.register(subject, ACCOUNT, metadata={"properties": {"team": "x"}},
                     rule_set={"domainRules": [cond("other")]})
        latest = env.fresh_client().get_latest_version(subject)
        got_props, got_rules = properties(latest.schema.metadata), rule_names(latest.schema.rule_set)
        expect(latest.version == 3, f"latest is version {latest.version}")
        expect(got_props == {"team": "x"} and got_rules == ["other"],
               f"v3 properties {got_props}, rules {got_rules}: its own should replace v2's, not merge")
        return f"v3 properties {got_props}, rules {got_rules}"
    check("carryover: v3 registered with its own metadata and ruleSet replaces them", v3)


REJECTED_RULE_SETS = [
    ("missing rule name", {"domainRules": [rule(kind="CONDITION", mode="WRITE", type="CEL", expr="true")]},
     "Missing rule name"),
    ("empty rule name", {"domainRules": [rule(name="", mode="WRITE", type="CEL", expr="true")]}, "Empty rule name"),
    ("rule name too long (257 chars)", {"domainRules": [cond("r" * 257)]}, "Rule name too long"),
    ("illegal initial character", {"domainRules": [cond("1rule")]},
     "Illegal initial character in rule name: 1rule"),
    ("illegal character", {"domainRules": [cond("rule$x")]}, "Illegal character in rule name: rule$x"),
    ("missing rule type", {"domainRules": [rule(name="noType", kind="CONDITION", mode="WRITE", expr="true")]},
     "Missing rule type"),
    ("duplicate names", {"domainRules": [cond("dup"), cond("dup")]}, "Found rule with duplicate name 'dup'"),
    ("duplicate names across phases",
     {"migrationRules": [rule(name="twice", mode="UPGRADE", type="JSONATA", expr="$")], "domainRules": [cond("twice")]},
     "Found rule with duplicate name 'twice'"),
    ("migration rule with mode WRITE", {"migrationRules": [rule(name="mig", mode="WRITE", type="JSONATA", expr="$")]},
     "Migration rules can only be UPGRADE, DOWNGRADE, UPDOWN"),
    ("domain rule with mode UPGRADE", {"domainRules": [rule(name="dom", mode="UPGRADE", type="CEL", expr="true")]},
     "Domain rules can only be WRITE, READ, WRITEREAD"),
    ("encoding rule with mode DOWNGRADE",
     {"encodingRules": [rule(name="enc", mode="DOWNGRADE", type="ENCRYPT_PAYLOAD")]},
     "Encoding rules can only be WRITE, READ, WRITEREAD"),
    ("two onFailure actions with mode WRITE",
     {"domainRules": [rule(name="twoActions", kind="CONDITION", mode="WRITE", type="CEL", expr="true",
                           onFailure="ERROR,NONE")]},
     "Multiple actions only valid with WRITEREAD and UPDOWN"),
    ("two onSuccess actions with mode READ",
     {"domainRules": [rule(name="twoSuccess", kind="CONDITION", mode="READ", type="CEL", expr="true",
                           onSuccess="NONE,NONE")]},
     "Multiple actions only valid with WRITEREAD and UPDOWN"),
]


def rule_validation_checks(env):
    subject = env.name("rules") + "-value"
    for label, rule_set, message in REJECTED_RULE_SETS:
        def rejected(rule_set=rule_set, message=message):
            e = raises(lambda: env.fresh_client().register_schema(subject, Schema(
                json.dumps(ACCOUNT), "AVRO", rule_set=RuleSet.from_dict(rule_set))), SchemaRegistryError)
            got = (e.http_status_code, e.error_code)
            expect(got == (422, 42210), f"expected HTTP 422 error_code 42210, got HTTP {got[0]} error_code {got[1]} "
                                        f"({e.error_message!r})")
            expect(message in (e.error_message or ""), f"message {e.error_message!r} lacks {message!r}")
            return f"{e.error_code} {e.error_message!r}"
        check(f"rule-validation: {label} -> 42210", rejected, independent=True)

    def nothing_stored():
        e = raises(lambda: env.fresh_client().get_versions(subject), SchemaRegistryError)
        expect((e.http_status_code, e.error_code) == (404, 40401), f"get_versions: {chain(e)}")
        return f"{e.error_code} {e.error_message!r}"
    check(f"rule-validation: nothing was stored under {subject}", nothing_stored)

    def valid():
        rule_set = {"domainRules": [cond("r" * 256), cond("_under-score_1")],
                    "migrationRules": [rule(name="up", mode="UPDOWN", type="JSONATA", expr="$",
                                            onSuccess="NONE,NONE", onFailure="ERROR,NONE")]}
        registered = env.register(subject, ACCOUNT, rule_set=rule_set)
        return f"id {registered.schema_id}"
    check("rule-validation: a valid ruleSet (256-char name, `_` start, `-`, UPDOWN with two actions) registers", valid)


# f. Associations and the default subject name strategy -----------------------------------------

ASSOC_SCHEMA = record_schema("Shipment", [{"name": "id", "type": "string"}])


def association_checks(env):
    record = {"id": "s-1"}

    def subjects():
        return set(env.fresh_client().get_subjects())

    def without_association():
        topic = env.name("noassoc")
        payload = env.serializer(ASSOC_SCHEMA)(record, value_ctx(topic))
        sid = int.from_bytes(payload[1:5], "big")
        expect(f"{topic}-value" in subjects(), f"{topic}-value was not registered")
        latest = env.fresh_client().get_latest_version(f"{topic}-value")
        expect(latest.schema_id == sid, f"payload names schema {sid}, {topic}-value has {latest.schema_id}")
        return f"registered under {topic}-value (id {sid})"
    check("associations: a topic without an association uses <topic>-value (default strategy)", without_association)

    topic = env.name("assoc")
    target = env.name("assoc-target")
    target_id = check(f"associations: register {target} (an association needs a live version)",
                      lambda: env.register(target, ASSOC_SCHEMA).schema_id)

    def create():
        response = env.client.create_association(AssociationCreateOrUpdateRequest(
            resource_name=topic, resource_namespace=CLUSTER_ID, resource_id=f"{CLUSTER_ID}-{topic}-id",
            resource_type="topic",
            associations=[AssociationCreateOrUpdateInfo(subject=target, association_type="value", lifecycle="WEAK")]))
        infos = response.associations or []
        expect(len(infos) == 1 and infos[0].subject == target and infos[0].association_type == "value",
               f"create_association answered {response}")
        return f"{response.resource_namespace}/{response.resource_name} -> {infos[0].subject} ({infos[0].lifecycle})"
    check(f"associations: create_association topic {topic} (namespace {CLUSTER_ID}) value -> {target}", create)

    def lookup():
        found = env.fresh_client().get_associations_by_resource_name(topic, "-", "topic", ["value"])
        expect([a.subject for a in found] == [target], f"associations for {topic}: {found}")
        return f"{[(a.resource_namespace, a.resource_name, a.subject) for a in found]}"
    check("associations: get_associations_by_resource_name(topic, '-') finds it", lookup)

    def associated(conf, label):
        def run():
            payload = env.serializer(ASSOC_SCHEMA, conf)(record, value_ctx(topic))
            sid = int.from_bytes(payload[1:5], "big")
            expect(sid == target_id, f"payload names schema {sid}, {target} has {target_id}")
            expect(f"{topic}-value" not in subjects(), f"{topic}-value was registered")
            got = env.deserializer(conf)(payload, value_ctx(topic))
            expect(got == record, f"read back {got!r}")
            return f"schema {sid} from {target}; no {topic}-value"
        check(f"associations: the default strategy {label} registers/looks up under {target}", run)
    associated(None, "(wildcard namespace)")
    associated({"subject.name.strategy.conf": {KAFKA_CLUSTER_ID: CLUSTER_ID}}, f"with cluster id {CLUSTER_ID}")

    def other_cluster():
        conf = {"subject.name.strategy.conf": {KAFKA_CLUSTER_ID: "py-other-cluster"}}
        payload = env.serializer(ASSOC_SCHEMA, conf)(record, value_ctx(topic))
        sid = int.from_bytes(payload[1:5], "big")
        expect(f"{topic}-value" in subjects(), f"{topic}-value was not registered")
        return f"registered under {topic}-value (id {sid})"
    check("associations: with another cluster id the association does not apply: <topic>-value", other_cluster)


# Cross-language: the Node script's payloads ----------------------------------------------------

def consume_checks(env, selected, source="js"):
    path = os.path.join(env.workdir, f"{source}-encrypted.json")
    writer = {"js": "Node", "py": "Python", "rs": "Rust"}.get(source, source)
    if not any(name in selected for name in PAYLOAD_KINDS):
        return

    def load():
        expect(os.path.exists(path), f"{path} is missing: run `node contracts.mjs URL WORKDIR` first")
        with open(path) as f:
            return json.load(f)
    data = check(f"cross: read {path}", lambda: load())
    for check_name, kind in PAYLOAD_KINDS.items():
        if check_name not in selected:
            continue
        entry = data.get(kind)

        def decrypt(entry=entry, kind=kind, check_name=check_name):
            expect(entry is not None, f"{path} has no {kind!r} payload (the {writer} run did not pass {check_name})")
            expect(entry["secret"] == CLIENT_SECRET,
                   f"the {writer} payload was written with secret {entry['secret']!r}, this script uses {CLIENT_SECRET!r}")
            expect(entry["subject"] == entry["topic"] + "-value", f"unexpected subject {entry['subject']}")
            payload = bytes.fromhex(entry["payload_hex"])
            expect(entry["plaintext"].encode() not in payload, f"the plaintext is in the {writer} payload")
            got = AvroDeserializer(env.fresh_client(), rule_conf=RULE_CONF)(payload, value_ctx(entry["topic"]))
            expect(got == entry["expected"], f"read back {got!r}, expected {entry['expected']!r}")
            return f"{entry['topic']} (kek {entry['kek']}): {got}"
        check(f"cross: AvroDeserializer decrypts the {writer} {kind} payload", decrypt, independent=True)


GROUPS = {
    "cel": cel_checks, "cel-field": cel_field_checks, "jsonata": jsonata_checks, "encrypt": encrypt_checks,
    "encrypt-shared": encrypt_shared_checks, "defaults": defaults_checks, "carryover": carryover_checks,
    "rule-validation": rule_validation_checks, "associations": association_checks,
}


def run_group(fn, *args):
    try:
        fn(*args)
    except GroupAborted:
        pass


def main(argv):
    global KEEP_GOING
    args, only, run_id, source = [], None, None, "js"
    it = iter(argv)
    for arg in it:
        if arg == "--keep-going":
            KEEP_GOING = True
        elif arg == "--from":
            source = next(it, "js")
        elif arg == "--only":
            only = next(it, "")
        elif arg.startswith("--only="):
            only = arg.split("=", 1)[1]
        elif arg == "--run-id":
            run_id = next(it, "")
        elif arg.startswith("--run-id="):
            run_id = arg.split("=", 1)[1]
        else:
            args.append(arg)
    if len(args) not in (2, 3) or (len(args) == 3 and args[2] not in ("produce", "consume", "all")):
        sys.exit("usage: python contracts.py URL WORKDIR [produce|consume|all] [--only CHECK[,CHECK...]] [--run-id ID] "
                 "[--keep-going]\n"
                 f"checks: {', '.join(ALL_CHECKS)}")
    url, workdir = args[0], args[1]
    mode = args[2] if len(args) == 3 else "all"
    selected = ALL_CHECKS if not only else [c.strip() for c in only.split(",") if c.strip()]
    unknown = [c for c in selected if c not in ALL_CHECKS]
    if unknown:
        sys.exit(f"unknown check(s) {', '.join(unknown)}; checks: {', '.join(ALL_CHECKS)}")
    os.makedirs(workdir, exist_ok=True)
    env = Env(url, workdir, run_id or secrets.token_hex(3))
    print(f"note  run id {env.run_id}, mode {mode}, checks {', '.join(selected)}", flush=True)
    if mode in ("produce", "all"):
        own = os.path.join(workdir, "py-encrypted.json")
        if os.path.exists(own):
            os.remove(own)  # a stale payload from an earlier run or server would mislead the Node run
        for name in ALL_CHECKS:
            if name in selected:
                run_group(GROUPS[name], env)
    if mode in ("consume", "all"):
        run_group(consume_checks, env, selected, source)
    if FAILURES:
        print(f"{len(FAILURES)} python contract check(s) failed ({mode}): {'; '.join(FAILURES)}", flush=True)
        sys.exit(1)
    print(f"all python contract checks passed ({mode})", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
