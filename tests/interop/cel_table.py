"""The CEL verdict table with confluent-kafka's own serializers and CEL executors.

    python cel_table.py URL CASES_JSON

CASES_JSON (written by tests/interop.rs) lists cases {"topic", "format": AVRO|JSON|PROTOBUF,
"schema", "record"}; each case's subject `<topic>-value` is registered with one CEL or CEL_FIELD
CONDITION rule (mode WRITE, onFailure ERROR). Each record is serialized with use.latest.version,
so the client runs the registered rule. One line per case:

    VERDICT <topic> pass|fail <detail>

`fail` is the serializer refusing the record with a RuleConditionError (or a CEL evaluation
error: the rule failed); anything else is an error of the script (exit 1).
"""

import json
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.schema_registry.confluent import meta_pb2
from confluent_kafka.schema_registry.rules.cel.cel_executor import CelExecutor
from confluent_kafka.schema_registry.rules.cel.cel_field_executor import CelFieldExecutor
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError

CelExecutor.register()
CelFieldExecutor.register()

LATEST = {"auto.register.schemas": False, "use.latest.version": True}


def person_class():
    """interop.cel.Person, the same file as the Rust test's PERSON_PROTO."""
    T = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="interop/cel/person.proto", package="interop.cel", syntax="proto3")
    fdp.dependency.append("confluent/meta.proto")
    person = fdp.message_type.add(name="Person")
    for number, (name, kind, tagged) in enumerate([
            ("name", T.TYPE_STRING, True), ("age", T.TYPE_INT32, False), ("amount", T.TYPE_DOUBLE, False),
            ("email", T.TYPE_STRING, True), ("active", T.TYPE_BOOL, False)], start=1):
        field = person.field.add(name=name, number=number, type=kind, label=T.LABEL_OPTIONAL)
        if tagged:
            field.options.Extensions[meta_pb2.field_meta].tags.append("PII")
    pool = descriptor_pool.Default()
    try:
        pool.Add(fdp)
    except TypeError:
        pool.AddSerializedFile(fdp.SerializeToString())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("interop.cel.Person"))


def chain(e):
    parts = []
    while e is not None:
        parts.append(f"{type(e).__name__}: {e}")
        e = e.__cause__ or e.__context__
    return " <- ".join(parts)


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: python cel_table.py URL CASES_JSON")
    url, path = argv
    with open(path) as f:
        cases = json.load(f)
    client = SchemaRegistryClient({"url": url})
    person = None
    for case in cases:
        topic, fmt, record = case["topic"], case["format"], case["record"]
        context = SerializationContext(topic, MessageField.VALUE)
        if fmt == "AVRO":
            serialize = AvroSerializer(client, case["schema"], conf=LATEST)
            value = dict(record)
        elif fmt == "JSON":
            serialize = JSONSerializer(case["schema"], client, conf=LATEST)
            value = dict(record)
        elif fmt == "PROTOBUF":
            person = person or person_class()
            serialize = ProtobufSerializer(person, client, {**LATEST, "use.deprecated.format": False})
            value = person(**record)
        else:
            sys.exit(f"unknown format {fmt}")
        try:
            serialize(value, context)
            print(f"VERDICT {topic} pass", flush=True)
        except SerializationError as e:
            print(f"VERDICT {topic} fail {chain(e)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
