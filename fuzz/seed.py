#!/usr/bin/env python3
"""Writes seed corpora for the fuzz targets from the conformance cases.

    fuzz/seed.py [CONFORMANCE_DIR] [OUT_DIR]

CONFORMANCE_DIR defaults to ../shared/conformance, OUT_DIR to fuzz/corpus. Every schema of every
compatibility case seeds its format's parser, every (previous, candidate) pair seeds
compat_pairs, and a few framed payloads and request bodies seed wire and request_params.
"""
import hashlib
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
conformance = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "shared", "conformance")
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "corpus")
targets = {"AVRO": "parse_avro", "JSON": "parse_json", "PROTOBUF": "parse_protobuf"}
selector = {"AVRO": 0, "JSON": 1, "PROTOBUF": 2}
counts = {}


def write(target, data):
    directory = os.path.join(out, target)
    os.makedirs(directory, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)
    counts[target] = counts.get(target, 0) + 1


for name in ("avro.jsonl", "jsonschema.jsonl", "protobuf.jsonl"):
    path = os.path.join(conformance, name)
    if not os.path.exists(path):
        continue
    for line in open(path):
        case = json.loads(line)
        fmt = case["format"]
        for schema in case["previous"] + [case["candidate"]]:
            write(targets[fmt], schema.encode())
        for old in case["previous"]:
            write("compat_pairs", bytes([selector[fmt]]) + old.encode() + b"\0" + case["candidate"].encode())

for payload in [b"\x00\x00\x00\x00\x01\x02", b"\x01" + bytes(16) + b"\x00", b"\x00\x00\x00\x00\x07\x04\x02\x06", b"\x00"]:
    write("wire", payload)
for body in [
    '{"schema": "\\"int\\"", "schemaType": "AVRO", "references": [{"name": "a", "subject": "b", "version": 1}]}',
    '{"schema": 5, "id": "7", "version": 1.5, "metadata": {"properties": {"a": 1}, "tags": {"f": ["PII"]}}}',
    '{"domainRules": [{"name": "r", "type": "CEL", "kind": "CONDITION", "mode": "WRITE", "expr": "message.a > 0"}]}',
    '{"compatibility": "FULL", "compatibilityGroup": "major", "defaultMetadata": {"properties": {"owner": "x"}}}',
    ":.ctx:orders-value", "latest", "-1", "2147483647", "BACKWARD_TRANSITIVE", "READONLY",
]:
    write("request_params", body.encode())
print("seeded " + ", ".join(f"{target}: {count}" for target, count in sorted(counts.items())))
