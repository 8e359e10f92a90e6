// JSONata migrations along a chain of major versions with @confluentinc/schemaregistry's serdes.
//
//     node migration.mjs URL SUBJECT write MAJOR RECORD_JSON    # prints the payload as hex
//     node migration.mjs URL SUBJECT read MAJOR|latest HEX       # prints the record as JSON
//
// The same chain and modes as tests/interop/migration.py.

import confluentjs from '@confluentinc/schemaregistry';

const { SchemaRegistryClient, AvroSerializer, AvroDeserializer, SerdeType, JsonataExecutor } = confluentjs;
JsonataExecutor.register();

const [url, subject, mode, major, data] = process.argv.slice(2);
if (!data || !['write', 'read'].includes(mode)) {
  console.error('usage: node migration.mjs URL SUBJECT write|read MAJOR|latest DATA');
  process.exit(2);
}
const client = new SchemaRegistryClient({ baseURLs: [url] });
const topic = subject.replace(/-value$/, '');
const conf = major === 'latest'
  ? { useLatestVersion: true }
  : { useLatestWithMetadata: { 'application.major.version': major } };

function sorted(value) {
  if (Array.isArray(value)) return value.map(sorted);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sorted(value[k])]));
  }
  return value;
}

if (mode === 'write') {
  const serializer = new AvroSerializer(client, SerdeType.VALUE, { autoRegisterSchemas: false, ...conf });
  const payload = await serializer.serialize(topic, JSON.parse(data));
  console.log(Buffer.from(payload).toString('hex'));
} else {
  const deserializer = new AvroDeserializer(client, SerdeType.VALUE, conf);
  const record = await deserializer.deserialize(topic, Buffer.from(data, 'hex'));
  console.log(JSON.stringify(sorted(record)));
}
process.exit(0);
