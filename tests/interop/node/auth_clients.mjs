// Authentication and TLS interop with real Node clients of the Schema Registry API.
//
//     node auth_clients.mjs HTTP_URL HTTPS_URL CA_FILE
//
// Both URLs name a covenant started with an auth file in which user `team` (password `team-pw`)
// may read, write and configure subjects `team-*` and nothing else; HTTPS_URL serves a
// certificate signed by CA_FILE for 127.0.0.1 and localhost. The clients (versions pinned in
// package.json; `npm ci` in this folder installs them):
//
// - @kafkajs/confluent-schema-registry (`auth: {username, password}`, `agent` for TLS);
// - @confluentinc/schemaregistry (`basicAuthCredentials` USER_INFO, `createAxiosDefaults.httpsAgent`).
//
// For each: the right credentials register and read back a schema (by id and as the latest
// version, through a second client so the read goes over the wire rather than to the cache) and
// round-trip a record through its serde; a wrong password gives HTTP 401; a subject outside the
// grant gives HTTP 403 (with error_code 40301 where the client exposes it). Over HTTPS:
// registering and reading with the CA, and failing TLS verification without it.
//
// One line per check; the first failure exits 1 with what was expected and what came back.

import fs from 'node:fs';
import https from 'node:https';
import { isDeepStrictEqual } from 'node:util';

import kafkajsRegistry from '@kafkajs/confluent-schema-registry';
import confluentjs from '@confluentinc/schemaregistry';

const { SchemaRegistry: KafkajsRegistry, SchemaType } = kafkajsRegistry;
const { SchemaRegistryClient, RestError, AvroSerializer, AvroDeserializer, SerdeType } = confluentjs;

const AVRO = {
  type: 'record', name: 'Login', namespace: 'interop.auth',
  fields: [
    { name: 'user', type: 'string' },
    { name: 'attempts', type: 'int' },
    { name: 'source', type: ['null', 'string'], default: null },
  ],
};
const AVRO_STR = JSON.stringify(AVRO);
const RECORD = { user: 'aladdin', attempts: 3, source: 'cave' };
const GOOD = ['team', 'team-pw'];
const WRONG = ['team', 'wrong-pw'];
// What Node says when a certificate does not chain to a trusted CA.
const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_UNTRUSTED',
]);

class CheckFailed extends Error {}

function expect(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

async function check(name, fn) {
  let detail;
  try {
    detail = await fn();
  } catch (e) {
    const message = e instanceof CheckFailed ? e.message : `unexpected ${e?.name}: ${e?.message ?? e}`;
    console.log(`FAIL  ${name}: ${message}`);
    process.exit(1);
  }
  console.log(`ok    ${name}${detail ? `: ${detail}` : ''}`);
}

/** Awaits fn(), which must throw; returns what it threw. */
async function rejects(fn) {
  let value;
  try {
    value = await fn();
  } catch (e) {
    return e;
  }
  throw new CheckFailed(`expected an error, but the call succeeded and returned ${JSON.stringify(value)}`);
}

const plain = (value) => JSON.parse(JSON.stringify(value));
const sameSchema = (text) => isDeepStrictEqual(typeof text === 'string' ? JSON.parse(text) : text, AVRO);

/** True when e, or an error it wraps, is a certificate verification failure. */
function tlsVerificationError(e) {
  for (let seen = 0; e && seen < 5; seen++, e = e.cause ?? e.originalError) {
    if (TLS_VERIFY_CODES.has(e.code) || /unable to (get local issuer|verify the first) certificate|self[- ]signed/i.test(e.message ?? '')) {
      return true;
    }
  }
  return false;
}

// @kafkajs/confluent-schema-registry ------------------------------------------------------------

function kafkajs(url, user, agent) {
  return new KafkajsRegistry({
    host: url,
    ...(user ? { auth: { username: user[0], password: user[1] } } : {}),
    ...(agent ? { agent } : {}),
    retry: { retries: 0 },
  });
}

// kafkajs's ResponseError keeps the status and the body's `message` ("<clientId> - <message>"),
// not the body's error_code.
async function kafkajsError(fn, status, messagePart) {
  const e = await rejects(fn);
  expect(e?.name === 'ResponseError', `expected a ResponseError, got ${e?.name}: ${e?.message}`);
  expect(e.status === status, `expected HTTP ${status}, got HTTP ${e.status} (${e.message})`);
  expect(e.unauthorized === (status === 401), `unauthorized is ${e.unauthorized} for HTTP ${e.status}`);
  expect(e.message.includes(messagePart), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(messagePart)}`);
  return `ResponseError status ${e.status}, unauthorized ${e.unauthorized}, ${JSON.stringify(e.message)} (${e.url})`;
}

async function kafkajsRegisterAndRead(url, subject, agent) {
  const { id } = await kafkajs(url, GOOD, agent).register({ type: SchemaType.AVRO, schema: AVRO_STR }, { subject });
  expect(Number.isInteger(id) && id > 0, `register returned id ${id}`);
  const reader = kafkajs(url, GOOD, agent); // a second client: its cache is empty
  const type = await reader.getSchema(id);
  expect(type?.name === 'interop.auth.Login', `schema ${id} reads back as ${type?.name}`);
  const latest = await reader.getLatestSchemaId(subject);
  expect(latest === id, `latest version of ${subject} has id ${latest}, not ${id}`);
  return `id ${id}`;
}

async function kafkajsChecks(http, httpsUrl, ca) {
  const c = '@kafkajs/confluent-schema-registry';
  const withCa = () => new https.Agent({ ca });
  await check(`${c}: register and read team-kafkajs-value with the right password`,
    () => kafkajsRegisterAndRead(http, 'team-kafkajs-value'));
  await check(`${c}: encode and decode a record through team-kafkajs-value`, async () => {
    const id = await kafkajs(http, GOOD).getLatestSchemaId('team-kafkajs-value');
    const buffer = await kafkajs(http, GOOD).encode(id, RECORD);
    const value = plain(await kafkajs(http, GOOD).decode(buffer));
    expect(isDeepStrictEqual(value, RECORD), `decoded ${JSON.stringify(value)}`);
    return `schema ${id}, ${buffer.length} bytes`;
  });
  await check(`${c}: wrong password, getLatestSchemaId gives 401`,
    () => kafkajsError(() => kafkajs(http, WRONG).getLatestSchemaId('team-kafkajs-value'), 401, 'Unauthorized'));
  await check(`${c}: wrong password, register gives 401`,
    () => kafkajsError(() => kafkajs(http, WRONG).register({ type: SchemaType.AVRO, schema: AVRO_STR },
      { subject: 'team-kafkajs-value' }), 401, 'Unauthorized'));
  await check(`${c}: no credentials, getLatestSchemaId gives 401`,
    () => kafkajsError(() => kafkajs(http).getLatestSchemaId('team-kafkajs-value'), 401, 'Unauthorized'));
  // register() first asks GET /config/{subject}, which needs Read: the 403 comes from that call.
  // The body's error_code (40301) reaches no caller: the library turns the response into a
  // ResponseError before any user middleware sees it, so the status and message are what is checked.
  await check(`${c}: register other-kafkajs-value gives 403`,
    () => kafkajsError(() => kafkajs(http, GOOD).register({ type: SchemaType.AVRO, schema: AVRO_STR },
      { subject: 'other-kafkajs-value' }), 403, 'User is denied operation Read on Subject: other-kafkajs-value'));
  await check(`${c}: over HTTPS with an https.Agent for the CA, register and read team-kafkajs-tls-value`,
    () => kafkajsRegisterAndRead(httpsUrl, 'team-kafkajs-tls-value', withCa()));
  await check(`${c}: over HTTPS with the CA, wrong password gives 401`,
    () => kafkajsError(() => kafkajs(httpsUrl, WRONG, withCa()).getLatestSchemaId('team-kafkajs-tls-value'),
      401, 'Unauthorized'));
  await check(`${c}: over HTTPS without the CA, TLS verification fails`, async () => {
    const e = await rejects(() => kafkajs(httpsUrl, GOOD).getLatestSchemaId('team-kafkajs-tls-value'));
    expect(tlsVerificationError(e), `not a certificate verification error: ${e?.name} ${e?.code ?? ''}: ${e?.message}`);
    return `${e?.name}${e?.status ? ` status ${e.status}` : ''}: ${e?.message}`;
  });
}

// @confluentinc/schemaregistry -------------------------------------------------------------------

function confluent(url, user, agent, extra = {}) {
  return new SchemaRegistryClient({
    baseURLs: [url],
    ...(user ? { basicAuthCredentials: { credentialsSource: 'USER_INFO', userInfo: `${user[0]}:${user[1]}` } } : {}),
    ...(agent ? { createAxiosDefaults: { httpsAgent: agent } } : {}),
    ...extra,
  });
}

async function confluentError(fn, status, errorCode, messagePart) {
  const e = await rejects(fn);
  expect(e instanceof RestError, `expected a RestError, got ${e?.name}: ${e?.message}`);
  expect(e.status === status && e.errorCode === errorCode,
    `expected HTTP ${status} error_code ${errorCode}, got HTTP ${e.status} error_code ${e.errorCode} (${e.message})`);
  expect(e.message.includes(messagePart), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(messagePart)}`);
  return `RestError status ${e.status}, errorCode ${e.errorCode}, ${JSON.stringify(e.message)}`;
}

async function confluentRegisterAndRead(url, subject, agent) {
  const id = await confluent(url, GOOD, agent).register(subject, { schemaType: 'AVRO', schema: AVRO_STR });
  expect(Number.isInteger(id) && id > 0, `register returned id ${id}`);
  const reader = confluent(url, GOOD, agent); // a second client: its cache is empty
  const byId = await reader.getBySubjectAndId(subject, id);
  expect(sameSchema(byId?.schema), `schema ${id} reads back as ${JSON.stringify(byId)}`);
  const latest = await reader.getLatestSchemaMetadata(subject);
  expect(latest?.id === id, `latest version of ${subject} has id ${latest?.id}, not ${id}`);
  expect(sameSchema(latest.schema), `latest of ${subject} is ${JSON.stringify(latest.schema)}`);
  return `id ${id}, latest version ${latest.version}`;
}

async function confluentChecks(http, httpsUrl, ca) {
  const c = '@confluentinc/schemaregistry';
  const withCa = () => new https.Agent({ ca });
  await check(`${c}: register and read team-confluentjs-value with the right password`,
    () => confluentRegisterAndRead(http, 'team-confluentjs-value'));
  await check(`${c}: AvroSerializer/AvroDeserializer round-trip through team-confluentjs-value`, async () => {
    const topic = 'team-confluentjs';
    const serializer = new AvroSerializer(confluent(http, GOOD), SerdeType.VALUE, { useLatestVersion: true });
    const buffer = await serializer.serialize(topic, RECORD);
    const deserializer = new AvroDeserializer(confluent(http, GOOD), SerdeType.VALUE, {});
    const value = plain(await deserializer.deserialize(topic, buffer));
    expect(isDeepStrictEqual(value, RECORD), `decoded ${JSON.stringify(value)}`);
    return `schema ${buffer.readInt32BE(1)}, ${buffer.length} bytes`;
  });
  await check(`${c}: wrong password, getAllSubjects gives 401`,
    () => confluentError(() => confluent(http, WRONG).getAllSubjects(), 401, 401, 'Unauthorized'));
  await check(`${c}: wrong password, register gives 401`,
    () => confluentError(() => confluent(http, WRONG).register('team-confluentjs-value',
      { schemaType: 'AVRO', schema: AVRO_STR }), 401, 401, 'Unauthorized'));
  await check(`${c}: no credentials, getAllSubjects gives 401`,
    () => confluentError(() => confluent(http).getAllSubjects(), 401, 401, 'Unauthorized'));
  await check(`${c}: register other-confluentjs-value gives 403 40301`,
    () => confluentError(() => confluent(http, GOOD).register('other-confluentjs-value',
      { schemaType: 'AVRO', schema: AVRO_STR }), 403, 40301,
    'User is denied operation Write on Subject: other-confluentjs-value'));
  await check(`${c}: over HTTPS with createAxiosDefaults.httpsAgent for the CA, register and read team-confluentjs-tls-value`,
    () => confluentRegisterAndRead(httpsUrl, 'team-confluentjs-tls-value', withCa()));
  await check(`${c}: over HTTPS with the CA, wrong password gives 401`,
    () => confluentError(() => confluent(httpsUrl, WRONG, withCa()).getAllSubjects(), 401, 401, 'Unauthorized'));
  await check(`${c}: over HTTPS without the CA, TLS verification fails`, async () => {
    // maxRetries 0: the client retries network errors, TLS ones included, with backoff.
    const e = await rejects(() => confluent(httpsUrl, GOOD, undefined, { maxRetries: 0 }).getAllSubjects());
    expect(!(e instanceof RestError), `the server answered: ${e?.message}`);
    expect(tlsVerificationError(e), `not a certificate verification error: ${e?.name} ${e?.code ?? ''}: ${e?.message}`);
    return `${e?.name} ${e?.code}: ${e?.message}`;
  });
}

const [httpUrl, httpsUrl, caFile] = process.argv.slice(2);
if (!caFile) {
  console.error('usage: node auth_clients.mjs HTTP_URL HTTPS_URL CA_FILE');
  process.exit(2);
}
// (A NODE_EXTRA_CA_CERTS naming CA_FILE, or NODE_TLS_REJECT_UNAUTHORIZED=0, makes the
// "without the CA" checks fail, as they should: the clients would then trust the server anyway.)
const ca = fs.readFileSync(caFile);
await kafkajsChecks(httpUrl, httpsUrl, ca);
await confluentChecks(httpUrl, httpsUrl, ca);
console.log('all node auth interop checks passed');
