"""Interop with confluent-kafka's Python serializers, driven by tests/interop.rs.

    python interop.py produce URL DIR   # Python serializes known values; writes DIR/python-*.hex
    python interop.py consume URL DIR   # Python deserializes DIR/rust-*.hex; checks the values

The values both sides use live in DIR/expected.json, written by the Rust test.
"""
import json
import os
import sys

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

AVRO_SCHEMA = json.dumps({
    "type": "record", "name": "Reading", "namespace": "interop",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "sensor", "type": "string"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "value", "type": ["null", "double"], "default": None},
    ],
})

JSON_SCHEMA = json.dumps({
    "title": "Reading", "type": "object",
    "properties": {"id": {"type": "integer"}, "sensor": {"type": "string"},
                   "tags": {"type": "array", "items": {"type": "string"}}},
    "required": ["id", "sensor"],
})


def order_class():
    """interop.Order, built from a FileDescriptorProto (the same file as ORDER_PROTO in the Rust test)."""
    T = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="interop/order.proto", package="interop", syntax="proto3")
    fdp.dependency.append("google/protobuf/timestamp.proto")
    order = fdp.message_type.add(name="Order")
    order.field.add(name="id", number=1, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    order.field.add(name="quantity", number=2, type=T.TYPE_INT32, label=T.LABEL_OPTIONAL)
    order.field.add(name="lines", number=3, type=T.TYPE_MESSAGE, label=T.LABEL_REPEATED, type_name=".interop.Order.Line")
    order.field.add(name="placed", number=4, type=T.TYPE_MESSAGE, label=T.LABEL_OPTIONAL, type_name=".google.protobuf.Timestamp")
    line = order.nested_type.add(name="Line")
    line.field.add(name="sku", number=1, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    line.field.add(name="count", number=2, type=T.TYPE_INT64, label=T.LABEL_OPTIONAL)
    pool = descriptor_pool.Default()
    from google.protobuf import timestamp_pb2  # noqa: F401  (registers the dependency in the pool)
    try:
        pool.Add(fdp)
    except TypeError:
        pool.AddSerializedFile(fdp.SerializeToString())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("interop.Order"))


def ctx(topic):
    return SerializationContext(topic, MessageField.VALUE)


def write_hex(path, payloads):
    with open(path, "w") as f:
        for p in payloads:
            f.write(p.hex() + "\n")


def read_hex(path):
    with open(path) as f:
        return [bytes.fromhex(line.strip()) for line in f if line.strip()]


def to_order(Order, value):
    message = Order(id=value["id"], quantity=value["quantity"])
    for line in value["lines"]:
        message.lines.add(sku=line["sku"], count=line["count"])
    message.placed.seconds = value["placed_seconds"]
    return message


def from_order(message):
    return {
        "id": message.id, "quantity": message.quantity,
        "lines": [{"sku": l.sku, "count": l.count} for l in message.lines],
        "placed_seconds": message.placed.seconds,
    }


def produce(url, directory):
    expected = json.load(open(os.path.join(directory, "expected.json")))
    sr = SchemaRegistryClient({"url": url})
    avro = AvroSerializer(sr, AVRO_SCHEMA)
    write_hex(os.path.join(directory, "python-avro.hex"), [avro(v, ctx("interop-avro")) for v in expected["avro"]])
    js = JSONSerializer(JSON_SCHEMA, sr)
    write_hex(os.path.join(directory, "python-json.hex"), [js(v, ctx("interop-json")) for v in expected["json"]])
    Order = order_class()
    proto = ProtobufSerializer(Order, sr, {"use.deprecated.format": False})
    write_hex(os.path.join(directory, "python-proto.hex"),
              [proto(to_order(Order, v), ctx("interop-proto")) for v in expected["proto"]])


def consume(url, directory):
    expected = json.load(open(os.path.join(directory, "expected.json")))
    sr = SchemaRegistryClient({"url": url})
    problems = []
    avro = AvroDeserializer(sr)
    got = [avro(p, ctx("interop-avro")) for p in read_hex(os.path.join(directory, "rust-avro.hex"))]
    if got != expected["avro"]:
        problems.append(f"avro: {got} != {expected['avro']}")
    js = JSONDeserializer(JSON_SCHEMA, schema_registry_client=sr)
    got = [js(p, ctx("interop-json")) for p in read_hex(os.path.join(directory, "rust-json.hex"))]
    if got != expected["json"]:
        problems.append(f"json: {got} != {expected['json']}")
    Order = order_class()
    proto = ProtobufDeserializer(Order, {"use.deprecated.format": False})
    got = [from_order(proto(p, ctx("interop-proto"))) for p in read_hex(os.path.join(directory, "rust-proto.hex"))]
    if got != expected["proto"]:
        problems.append(f"proto: {got} != {expected['proto']}")
    # Covenant's verbose compatibility answers carry an extra `findings` member; the client
    # must read the verdict as usual (and not choke on it).
    from confluent_kafka.schema_registry import Schema
    breaking = json.dumps({"type": "record", "name": "Reading", "namespace": "interop",
                           "fields": [{"name": "id", "type": "string"}]})
    for verbose in (False, True):
        verdict = sr.test_compatibility("interop-avro-value", Schema(breaking, "AVRO"), verbose=verbose)
        if verdict is not False:
            problems.append(f"test_compatibility(verbose={verbose}) said {verdict!r} for a breaking change")
        verdict = sr.test_compatibility_all_versions("interop-avro-value", Schema(AVRO_SCHEMA, "AVRO"), verbose=verbose)
        if verdict is not True:
            problems.append(f"test_compatibility_all_versions(verbose={verbose}) said {verdict!r} for the same schema")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print("python decoded every Rust payload to the expected values and read the verbose verdicts")


if __name__ == "__main__":
    command, url, directory = sys.argv[1:4]
    {"produce": produce, "consume": consume}[command](url, directory)
