// The CEL verdict table with @confluentinc/schemaregistry's own serializers and CEL executors.
//
//     node cel_table.mjs URL CASES_JSON
//
// The same cases as tests/interop/cel_table.py (written by tests/interop.rs): each subject
// `<topic>-value` carries one CEL or CEL_FIELD CONDITION rule (mode WRITE, onFailure ERROR);
// each record is serialized with useLatestVersion, so the client runs the registered rule.
// One line per case: `VERDICT <topic> pass|fail <detail>`; `fail` is a SerializationError
// from the rule, anything else an error of the script (exit 1).

import fs from 'node:fs';
import { createRequire } from 'node:module';

import confluentjs from '@confluentinc/schemaregistry';

const {
  SchemaRegistryClient, AvroSerializer, JsonSerializer, ProtobufSerializer, SerdeType, SerializationError,
  CelExecutor, CelFieldExecutor,
} = confluentjs;
const require = createRequire(import.meta.url);
const { create, createMutableRegistry } = require('@bufbuild/protobuf');
const { fileDesc, messageDesc } = require('@bufbuild/protobuf/codegenv1');
const { file_confluent_meta } = require('@confluentinc/schemaregistry/dist/confluent/meta_pb.js');

CelExecutor.register();
CelFieldExecutor.register();

// interop/cel/person.proto (the Rust test's PERSON_PROTO): its FileDescriptorProto, serialized,
// with the PII tags as (confluent.field_meta) options, as protoc-gen-es would embed it.
const PERSON_FILE = fileDesc(
  'ChhpbnRlcm9wL2NlbC9wZXJzb24ucHJvdG8SC2ludGVyb3AuY2VsGhRjb25mbHVlbnQvbWV0YS5wcm90byKIAQoGUGVyc29uEhwKBG5hbWUYASABKAlCCIJEBRoDUElJUgRuYW1lEhAKA2FnZRgCIAEoBVIDYWdlEhYKBmFtb3VudBgDIAEoAVIGYW1vdW50Eh4KBWVtYWlsGAQgASgJQgiCRAUaA1BJSVIFZW1haWwSFgoGYWN0aXZlGAUgASgIUgZhY3RpdmViBnByb3RvMw==',
  [file_confluent_meta],
);
const PersonSchema = messageDesc(PERSON_FILE, 0);

const LATEST = { autoRegisterSchemas: false, useLatestVersion: true };

function chain(e) {
  const parts = [];
  for (let cause = e; cause; cause = cause.cause) parts.push(`${cause.name}: ${cause.message}`);
  return parts.join(' <- ');
}

const [url, path] = process.argv.slice(2);
if (!url || !path) {
  console.error('usage: node cel_table.mjs URL CASES_JSON');
  process.exit(2);
}
const cases = JSON.parse(fs.readFileSync(path, 'utf8'));
const client = new SchemaRegistryClient({ baseURLs: [url] });
const registry = createMutableRegistry(PersonSchema);
for (const { topic, format, record } of cases) {
  let serializer;
  let value = record;
  if (format === 'AVRO') serializer = new AvroSerializer(client, SerdeType.VALUE, LATEST);
  else if (format === 'JSON') serializer = new JsonSerializer(client, SerdeType.VALUE, LATEST);
  else if (format === 'PROTOBUF') {
    serializer = new ProtobufSerializer(client, SerdeType.VALUE, { ...LATEST, registry });
    value = create(PersonSchema, record);
  } else {
    console.error(`unknown format ${format}`);
    process.exit(2);
  }
  try {
    await serializer.serialize(topic, value);
    console.log(`VERDICT ${topic} pass`);
  } catch (e) {
    if (!(e instanceof SerializationError)) {
      console.error(`${topic}: unexpected ${chain(e)}`);
      process.exit(1);
    }
    console.log(`VERDICT ${topic} fail ${chain(e)}`);
  }
}
process.exit(0);
