// Data-contract interop: @confluentinc/schemaregistry's own serdes and rule executors against covenant.
//
//     node contracts.mjs URL WORKDIR [produce|consume|all] [--only CHECK[,CHECK...]] [--run-id ID] [--keep-going]
//
// URL names a covenant without auth (plain HTTP). WORKDIR is a folder shared with the Python
// script (tests/interop/contracts.py) for the cross-language encryption payloads. The CEL,
// CEL_FIELD, JSONATA and ENCRYPT executors and the local KMS driver ship inside
// @confluentinc/schemaregistry (pinned in package.json; `npm ci` in this folder installs it and
// their dependencies @bufbuild/cel, jsonata and @hackbg/miscreant-esm).
//
// Every subject, topic and KEK is named `js-<what>-<run id>` (random unless --run-id is given),
// so this script, the Python one (`py-...`) and a rerun all fit on one server. One line per
// check; the first failure prints FAIL and exits 1 (with --keep-going it goes on with the next
// group, or the next case where cases are independent, and exits 1 at the end).
//
// Checks (select groups with --only; default: all of them), the same as the Python script's:
//   cel             CEL condition (domain rule, WRITE): a bad record is refused with
//                   "rule positiveAmount failed: Expr failed: 'message.amount > 0'"; a good one round-trips.
//   cel-field       CEL_FIELD transform (WRITE) on the field tagged PII with `confluent:tags`.
//   jsonata         compatibilityGroup application.major.version; v1/v2 with UPGRADE and DOWNGRADE
//                   JSONATA rules; written as one major version, read as the other.
//   encrypt         field-level ENCRYPT with the local KMS: the serializer creates the KEK and DEK
//                   in /dek-registry/v1, the field is AES-GCM ciphertext on the wire (checked with
//                   the DEK independently of the client), the deserializer decrypts it. Writes
//                   WORKDIR/js-encrypted.json ("local") for the Python script.
//   encrypt-shared  a KEK registered with shared=true: the registry makes and wraps the DEK with its
//                   own local KMS secret (SERVER_SECRET) and answers keyMaterial. Adds "shared".
//   defaults        config defaultMetadata/overrideMetadata/defaultRuleSet/overrideRuleSet merged on
//                   registration, read back with getLatestSchemaMetadata.
//   carryover       a version registered without metadata/ruleSet carries the previous version's.
//   rule-validation every ruleSet the registry must refuse with HTTP 422, error_code 42210.
//   associations    the default subject name strategy (ASSOCIATED, TOPIC fallback) with and
//                   without an association for the topic.
//
// Modes: `produce` runs the checks and writes WORKDIR/js-encrypted.json; `consume` only decrypts
// WORKDIR/py-encrypted.json (written by the Python script) with this client's deserializer;
// `all` (the default) does both. Both directions, against one server:
//
//     python ../contracts.py URL DIR produce    # writes DIR/py-encrypted.json
//     node contracts.mjs URL DIR all            # decrypts it, writes DIR/js-encrypted.json
//     python ../contracts.py URL DIR consume    # decrypts DIR/js-encrypted.json
//
// Secrets: the client-side local KMS secret (ruleConfig `secret`) is CLIENT_SECRET, the same as
// the Python script's. Shared KEKs are wrapped by the registry's local KMS with SERVER_SECRET
// (or COVENANT_INTEROP_SERVER_SECRET, which must then be the same for the server and both scripts).

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { isDeepStrictEqual } from 'node:util';

import confluentjs from '@confluentinc/schemaregistry';

const {
  SchemaRegistryClient, RestError, AvroSerializer, AvroDeserializer, SerdeType, SerializationError,
  CelExecutor, CelFieldExecutor, JsonataExecutor, FieldEncryptionExecutor, LocalKmsDriver, DekRegistryClient,
  KAFKA_CLUSTER_ID,
} = confluentjs;
// Not re-exported by the package index; the package has no "exports" map, so the path is public.
const { LocalKmsClient } = createRequire(import.meta.url)(
  '@confluentinc/schemaregistry/dist/rules/encryption/localkms/local-client.js');

const CLIENT_SECRET = 'covenant-interop-client-secret';
const SERVER_SECRET = process.env.COVENANT_INTEROP_SERVER_SECRET ?? 'covenant-interop-server-secret';
const RULE_CONFIG = { secret: CLIENT_SECRET };
const KMS_KEY_ID = 'covenant-interop-key';
const CLUSTER_ID = 'js-interop-cluster';
const ALL_CHECKS = ['cel', 'cel-field', 'jsonata', 'encrypt', 'encrypt-shared', 'defaults', 'carryover',
  'rule-validation', 'associations'];
const PAYLOAD_KINDS = { encrypt: 'local', 'encrypt-shared': 'shared' };

// The client's own executors and the local KMS driver, registered as an application would.
CelExecutor.register();
CelFieldExecutor.register();
JsonataExecutor.register();
FieldEncryptionExecutor.register();
LocalKmsDriver.register();

class CheckFailed extends Error {}
class GroupAborted extends Error {} // --keep-going: a check failed; the rest of its group depends on it

let keepGoing = false;
const failures = [];

function expect(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

function describe(e) {
  if (e instanceof RestError) return `RestError HTTP ${e.status} error_code ${e.errorCode}: ${e.message}`;
  return `${e?.name ?? typeof e}: ${e?.message ?? e}`;
}

// Runs fn; prints `ok    name: detail`, or FAIL and exits 1 (with --keep-going: records the
// failure and abandons the group, or, for an `independent` check, goes on with the next one).
async function check(name, fn, { independent = false } = {}) {
  let detail;
  try {
    detail = await fn();
  } catch (e) {
    const message = e instanceof CheckFailed ? e.message : `unexpected ${describe(e)}`;
    console.log(`FAIL  ${name}: ${message}`);
    if (!keepGoing) process.exit(1);
    failures.push(name);
    if (independent) return undefined;
    throw new GroupAborted(name);
  }
  const text = typeof detail === 'string' ? detail : (detail?.detail ?? '');
  console.log(`ok    ${name}${text ? `: ${text}` : ''}`);
  return detail;
}

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

async function http(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json', Accept: 'application/vnd.schemaregistry.v1+json, application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  let parsed = text;
  try { parsed = text ? JSON.parse(text) : null; } catch { /* keep the text */ }
  return [response.status, parsed];
}

const rule = (fields) => Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
const record = (name, fields) => ({ type: 'record', name, namespace: 'interop.contracts', fields });
const cond = (name, expr = 'true') => rule({ name, kind: 'CONDITION', mode: 'WRITE', type: 'CEL', expr });
const ruleNames = (ruleSet, phase = 'domainRules') => (ruleSet?.[phase] ?? []).map((r) => r.name);
const props = (metadata) => ({ ...(metadata?.properties ?? {}) });
const schemaIdOf = (payload) => payload.readInt32BE(1);

class Env {
  constructor(url, workdir, runId) {
    this.url = url.replace(/\/+$/, '');
    this.workdir = workdir;
    this.runId = runId;
    this.conf = { baseURLs: [this.url] }; // one client config: the executors bind to the first they see
    this.client = new SchemaRegistryClient(this.conf);
    this.payloads = {};
  }

  name(what) { return `js-${what}-${this.runId}`; }

  freshClient() { return new SchemaRegistryClient({ ...this.conf }); }

  serializer(conf = {}) {
    return new AvroSerializer(this.client, SerdeType.VALUE, { ruleConfig: RULE_CONFIG, ...conf });
  }

  latestSerializer(extra = {}) {
    return this.serializer({ autoRegisterSchemas: false, useLatestVersion: true, ...extra });
  }

  deserializer(conf = {}, client = this.client) {
    return new AvroDeserializer(client, SerdeType.VALUE, { ruleConfig: RULE_CONFIG, ...conf });
  }

  async register(subject, schema, metadata, ruleSet) {
    return this.client.registerFullResponse(subject, {
      schemaType: 'AVRO', schema: JSON.stringify(schema),
      ...(metadata ? { metadata } : {}), ...(ruleSet ? { ruleSet } : {}),
    });
  }

  writePayloads() {
    const file = path.join(this.workdir, 'js-encrypted.json');
    fs.writeFileSync(file, JSON.stringify(this.payloads, null, 2));
    return file;
  }
}

// a. CEL condition ------------------------------------------------------------------------------

const ORDER = record('Order', [{ name: 'id', type: 'string' }, { name: 'amount', type: 'int' }]);

async function celChecks(env) {
  const topic = env.name('cel');
  const subject = `${topic}-value`;
  const expr = 'message.amount > 0';
  await check(`cel: register ${subject} with a CEL CONDITION domain rule (WRITE)`, async () =>
    `id ${(await env.register(subject, ORDER, undefined, {
      domainRules: [rule({ name: 'positiveAmount', kind: 'CONDITION', mode: 'WRITE', type: 'CEL', expr })],
    })).id}`);
  const serializer = env.latestSerializer();
  await check('cel: a bad record (amount -5) is refused by AvroSerializer', async () => {
    const e = await rejects(() => serializer.serialize(topic, { id: 'o-2', amount: -5 }));
    expect(e instanceof SerializationError, `expected a SerializationError, got ${describe(e)}`);
    const want = `rule positiveAmount failed: Expr failed: '${expr}'`;
    expect(e.message === want, `message ${JSON.stringify(e.message)}, expected ${JSON.stringify(want)}`);
    return describe(e);
  });
  await check('cel: a good record (amount 42) serializes and reads back', async () => {
    const good = { id: 'o-1', amount: 42 };
    const payload = await serializer.serialize(topic, good);
    const got = plain(await env.deserializer().deserialize(topic, payload));
    expect(isDeepStrictEqual(got, good), `read back ${JSON.stringify(got)}`);
    return `${payload.length} bytes, schema ${schemaIdOf(payload)}`;
  });
}

// b. CEL_FIELD ----------------------------------------------------------------------------------

const CUSTOMER = record('Customer', [
  { name: 'name', type: 'string' },
  { name: 'ssn', type: 'string', 'confluent:tags': ['PII'] },
]);

async function celFieldChecks(env) {
  const topic = env.name('celfield');
  const subject = `${topic}-value`;
  await check(`cel-field: register ${subject} with a CEL_FIELD transform on tag PII (WRITE)`, async () =>
    `id ${(await env.register(subject, CUSTOMER, undefined, {
      domainRules: [rule({ name: 'maskPii', kind: 'TRANSFORM', mode: 'WRITE', type: 'CEL_FIELD', tags: ['PII'],
        expr: "typeName == 'STRING' ; 'masked:' + value" })],
    })).id}`);
  await check('cel-field: the tagged field is transformed, the untagged one is not', async () => {
    const payload = await env.latestSerializer().serialize(topic, { name: 'Ada', ssn: '123-45-6789' });
    expect(payload.includes(Buffer.from('masked:123-45-6789')), 'the masked ssn is not on the wire: the transform did not run on write');
    const got = plain(await env.deserializer().deserialize(topic, payload));
    const want = { name: 'Ada', ssn: 'masked:123-45-6789' };
    expect(isDeepStrictEqual(got, want), `read back ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    return `read back ${JSON.stringify(got)}`;
  });
}

// c. JSONata migration --------------------------------------------------------------------------

const WIDGET_V1 = record('Widget', [{ name: 'name', type: 'string' }, { name: 'size', type: 'int' }]);
const WIDGET_V2 = record('Widget', [{ name: 'name', type: 'string' }, { name: 'height', type: 'int' }]);
const UPGRADE = "$merge([$sift($, function($v, $k) {$k != 'size'}), {'height': $.'size'}])";
const DOWNGRADE = "$merge([$sift($, function($v, $k) {$k != 'height'}), {'size': $.'height'}])";
const MAJOR = 'application.major.version';

async function jsonataChecks(env) {
  const topic = env.name('migrate');
  const subject = `${topic}-value`;
  await check(`jsonata: set compatibilityGroup ${MAJOR} on ${subject}`, async () => {
    await env.client.updateConfig(subject, { compatibilityGroup: MAJOR });
    const got = (await env.freshClient().getConfig(subject)).compatibilityGroup;
    expect(got === MAJOR, `compatibilityGroup reads back as ${got}`);
    return `compatibilityGroup ${got}`;
  });
  await check('jsonata: register v1 (major 1) and v2 (major 2, size renamed to height, UPGRADE/DOWNGRADE rules)', async () => {
    const v1 = await env.register(subject, WIDGET_V1, { properties: { [MAJOR]: '1' } });
    const v2 = await env.register(subject, WIDGET_V2, { properties: { [MAJOR]: '2' } }, {
      migrationRules: [
        rule({ name: 'sizeToHeight', kind: 'TRANSFORM', mode: 'UPGRADE', type: 'JSONATA', expr: UPGRADE }),
        rule({ name: 'heightToSize', kind: 'TRANSFORM', mode: 'DOWNGRADE', type: 'JSONATA', expr: DOWNGRADE }),
      ],
    });
    expect(v1.id !== v2.id, `both versions got id ${v1.id}`);
    return `v1 id ${v1.id}, v2 (breaking rename) id ${v2.id}`;
  });
  await check('jsonata: control: without the compatibilityGroup the same v2 is refused as incompatible', async () => {
    const other = `${env.name('migrate-nogroup')}-value`;
    await env.register(other, WIDGET_V1, { properties: { [MAJOR]: '1' } });
    const e = await rejects(() => env.register(other, WIDGET_V2, { properties: { [MAJOR]: '2' } }));
    expect(e instanceof RestError && e.status === 409, `expected HTTP 409, got ${describe(e)}`);
    return `${other}: HTTP 409 error_code ${e.errorCode}`;
  });
  await check('jsonata: written as major 1, read as major 2: UPGRADE applied', async () => {
    const payload = await env.serializer({ autoRegisterSchemas: false, useLatestWithMetadata: { [MAJOR]: '1' } })
      .serialize(topic, { name: 'w', size: 7 });
    const got = plain(await env.deserializer({ useLatestWithMetadata: { [MAJOR]: '2' } }).deserialize(topic, payload));
    expect(isDeepStrictEqual(got, { name: 'w', height: 7 }), `read back ${JSON.stringify(got)}, expected the upgraded {"name":"w","height":7}`);
    return `read back ${JSON.stringify(got)}`;
  });
  await check('jsonata: written as major 2, read as major 1: DOWNGRADE applied', async () => {
    const payload = await env.serializer({ autoRegisterSchemas: false, useLatestWithMetadata: { [MAJOR]: '2' } })
      .serialize(topic, { name: 'w', height: 9 });
    const got = plain(await env.deserializer({ useLatestWithMetadata: { [MAJOR]: '1' } }).deserialize(topic, payload));
    expect(isDeepStrictEqual(got, { name: 'w', size: 9 }), `read back ${JSON.stringify(got)}, expected the downgraded {"name":"w","size":9}`);
    return `read back ${JSON.stringify(got)}`;
  });
}

// d. Field-level encryption ---------------------------------------------------------------------

const PATIENT = record('Patient', [
  { name: 'id', type: 'string' },
  { name: 'ssn', type: 'string', 'confluent:tags': ['PII'] },
  { name: 'note', type: 'string' },
]);

const encryptRule = (kek) => ({
  domainRules: [rule({ name: 'encryptPii', kind: 'TRANSFORM', mode: 'WRITEREAD', type: 'ENCRYPT', tags: ['PII'],
    params: { 'encrypt.kek.name': kek, 'encrypt.kms.type': 'local-kms', 'encrypt.kms.key.id': KMS_KEY_ID } })],
});

/** The three strings of a Patient record, read without any rule (Avro: zigzag length + UTF-8). */
function readPatient(payload) {
  expect(payload[0] === 0, `no magic byte: ${payload.subarray(0, 5).toString('hex')}`);
  let pos = 5;
  const readLong = () => {
    let n = 0n; let shift = 0n; let b;
    do { b = payload[pos++]; n |= BigInt(b & 0x7f) << shift; shift += 7n; } while (b & 0x80);
    return Number((n >> 1n) ^ -(n & 1n));
  };
  const out = {};
  for (const field of ['id', 'ssn', 'note']) {
    const len = readLong();
    out[field] = payload.subarray(pos, pos + len).toString('utf8');
    pos += len;
  }
  expect(pos === payload.length, `${payload.length - pos} bytes left after the record`);
  return out;
}

function aes256Key(raw) {
  expect(raw.length === 34 && raw[0] === 0x1a && raw[1] === 0x20, `DEK key material is not an AES256 AesGcmKey proto: ${raw.toString('hex')}`);
  return raw.subarray(2);
}

function openField(b64, key) {
  const ct = Buffer.from(b64, 'base64');
  expect(ct.length >= 28, `ciphertext is ${ct.length} bytes`);
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, ct.subarray(0, 12));
  decipher.setAuthTag(ct.subarray(ct.length - 16));
  return Buffer.concat([decipher.update(ct.subarray(12, ct.length - 16)), decipher.final()]).toString('utf8');
}

const localKmsOpen = async (secret, wrappedB64) =>
  Buffer.from(await new LocalKmsClient(secret).decrypt(Buffer.from(wrappedB64, 'base64')));

async function encryptFlow(env, what, kek, shared) {
  const topic = env.name(what);
  const subject = `${topic}-value`;
  const sent = { id: 'p-1', ssn: `${what}-999-12-3456`, note: 'visible' };
  await check(`${what}: register ${subject} with an ENCRYPT rule on tag PII (kek ${kek}, local-kms)`, async () =>
    `id ${(await env.register(subject, PATIENT, undefined, encryptRule(kek))).id}`);
  const { payload } = await check(`${what}: AvroSerializer encrypts the PII field`, async () =>
    ({ payload: await env.latestSerializer().serialize(topic, { ...sent }) })); // it may rewrite the record
  await check(`${what}: the plaintext ssn is not on the wire, the untagged note is`, async () => {
    expect(!payload.includes(Buffer.from(sent.ssn)), 'the plaintext ssn is in the payload');
    expect(payload.includes(Buffer.from('visible')), 'the untagged note is not in the payload');
    return `${payload.length} bytes`;
  });
  await check(`${what}: the KEK ${kek} is in /dek-registry/v1/keks (shared=${shared})`, async () => {
    const [status, body] = await http('GET', `${env.url}/dek-registry/v1/keks/${encodeURIComponent(kek)}`);
    expect(status === 200, `GET kek: HTTP ${status} ${JSON.stringify(body)}`);
    expect(body.kmsType === 'local-kms' && body.kmsKeyId === KMS_KEY_ID && body.shared === shared, `kek is ${JSON.stringify(body)}`);
    return JSON.stringify(body);
  });
  const { key } = await check(`${what}: the DEK for ${subject} is stored${shared
    ? " with the registry's keyMaterial, wrapped with SERVER_SECRET" : ", wrapped with the client's local KMS"}`, async () => {
    const [status, body] = await http('GET', `${env.url}/dek-registry/v1/keks/${encodeURIComponent(kek)}/deks/`
      + `${encodeURIComponent(subject)}/versions/1?algorithm=AES256_GCM&deleted=false`);
    expect(status === 200, `GET dek: HTTP ${status} ${JSON.stringify(body)}`);
    expect(body.kekName === kek && body.subject === subject && body.version === 1 && body.algorithm === 'AES256_GCM',
      `dek is ${JSON.stringify(body)}`);
    expect(body.encryptedKeyMaterial, `dek has no encryptedKeyMaterial: ${JSON.stringify(body)}`);
    let raw;
    if (shared) {
      expect(body.keyMaterial, `a shared KEK's DEK comes without keyMaterial: ${JSON.stringify(body)}`);
      raw = Buffer.from(body.keyMaterial, 'base64');
      let unwrapped;
      try {
        unwrapped = await localKmsOpen(SERVER_SECRET, body.encryptedKeyMaterial);
      } catch (e) {
        throw new CheckFailed(`encryptedKeyMaterial does not open with the server secret ${JSON.stringify(SERVER_SECRET)} `
          + `(is the server configured with it?): ${describe(e)}`);
      }
      expect(unwrapped.equals(raw), 'encryptedKeyMaterial opened with the server secret differs from keyMaterial');
      let openedWithClientSecret = false;
      try { await localKmsOpen(CLIENT_SECRET, body.encryptedKeyMaterial); openedWithClientSecret = true; } catch { /* expected */ }
      expect(!openedWithClientSecret, "the server wrapped the DEK with the client's secret, not its own");
    } else {
      expect(body.keyMaterial === undefined, `a non-shared KEK's DEK carries keyMaterial: ${JSON.stringify(body)}`);
      raw = await localKmsOpen(CLIENT_SECRET, body.encryptedKeyMaterial);
    }
    return { key: aes256Key(raw), detail: `encryptedKeyMaterial ${Buffer.from(body.encryptedKeyMaterial, 'base64').length} bytes` };
  });
  await check(`${what}: the field is base64(iv|AES-256-GCM|tag) under that DEK`, async () => {
    const rec = readPatient(payload);
    const opened = openField(rec.ssn, key);
    expect(opened === sent.ssn, `the field opens to ${JSON.stringify(opened)}`);
    expect(rec.id === 'p-1' && rec.note === 'visible', `other fields ${JSON.stringify(rec)}`);
    return `ssn on the wire ${rec.ssn.slice(0, 24)}... opens with the DEK to ${JSON.stringify(opened)}`;
  });
  await check(`${what}: AvroDeserializer decrypts it`, async () => {
    const got = plain(await env.deserializer().deserialize(topic, payload));
    expect(isDeepStrictEqual(got, sent), `read back ${JSON.stringify(got)}, expected ${JSON.stringify(sent)}`);
    return `read back ${JSON.stringify(got)}`;
  });
  env.payloads[shared ? 'shared' : 'local'] = {
    language: 'javascript', topic, subject, kek, shared, secret: CLIENT_SECRET,
    server_secret: shared ? SERVER_SECRET : null, payload_hex: payload.toString('hex'),
    plaintext: sent.ssn, expected: sent,
  };
  console.log(`note  wrote ${env.writePayloads()} (${Object.keys(env.payloads).sort().join(', ')})`);
}

async function encryptChecks(env) {
  await encryptFlow(env, 'encrypt', env.name('kek'), false);
}

async function encryptSharedChecks(env) {
  const kek = env.name('kek-shared');
  await check(`encrypt-shared: DekRegistryClient.registerKek(${kek}, shared=true)`, async () => {
    const dekClient = new DekRegistryClient({ ...env.conf });
    let got;
    try {
      got = await dekClient.registerKek(kek, 'local-kms', KMS_KEY_ID, true);
    } catch (e) {
      if (!(e instanceof RestError && e.status === 409)) throw e;
      got = await dekClient.getKek(kek);
    }
    expect(got.shared === true && got.kmsType === 'local-kms', `registered ${JSON.stringify(got)}`);
    return `${got.name} ${got.kmsType}://${got.kmsKeyId} shared=${got.shared}`;
  });
  await encryptFlow(env, 'encrypt-shared', kek, true);
}

// e. Data-contract semantics through the client API ---------------------------------------------

const ACCOUNT = record('Account', [{ name: 'id', type: 'string' }]);
const ACCOUNT_V2 = record('Account', [{ name: 'id', type: 'string' }, { name: 'label', type: 'string', default: '' }]);

async function defaultsChecks(env) {
  const subject = `${env.name('defaults')}-value`;
  await check(`defaults: set defaultMetadata/overrideMetadata/defaultRuleSet/overrideRuleSet on ${subject}`, async () => {
    await env.client.updateConfig(subject, {
      defaultMetadata: { properties: { owner: 'nobody', region: 'eu' } },
      overrideMetadata: { properties: { tier: 'gold' } },
      defaultRuleSet: { domainRules: [cond('defaultCheck')] },
      overrideRuleSet: { domainRules: [cond('overrideCheck')] },
    });
    const got = await env.freshClient().getConfig(subject);
    expect(isDeepStrictEqual(props(got.defaultMetadata), { owner: 'nobody', region: 'eu' })
      && isDeepStrictEqual(props(got.overrideMetadata), { tier: 'gold' })
      && isDeepStrictEqual(ruleNames(got.defaultRuleSet), ['defaultCheck'])
      && isDeepStrictEqual(ruleNames(got.overrideRuleSet), ['overrideCheck']), `config reads back as ${JSON.stringify(got)}`);
    return 'config stored';
  });
  const want = { owner: 'alice', region: 'eu', tier: 'gold' };
  await check('defaults: register with metadata {owner: alice, tier: bronze} and no rules; the stored version merges the defaults and overrides', async () => {
    const registered = await env.register(subject, ACCOUNT, { properties: { owner: 'alice', tier: 'bronze' } });
    const latest = await env.freshClient().getLatestSchemaMetadata(subject);
    expect(latest.id === registered.id, `latest id ${latest.id}, registered ${registered.id}`);
    expect(isDeepStrictEqual(props(latest.metadata), want),
      `metadata properties ${JSON.stringify(props(latest.metadata))}, expected ${JSON.stringify(want)} (default < request < override)`);
    const names = ruleNames(latest.ruleSet);
    expect(isDeepStrictEqual(names, ['defaultCheck', 'overrideCheck']), `domain rules ${JSON.stringify(names)}, expected default then override`);
    return `version ${latest.version}: properties ${JSON.stringify(props(latest.metadata))}, rules ${JSON.stringify(names)}`;
  });
  await check('defaults: register with its own rule `mine` and no metadata; rules merge by name, metadata carries over', async () => {
    await env.register(subject, ACCOUNT, undefined, { domainRules: [cond('mine')] });
    const latest = await env.freshClient().getLatestSchemaMetadata(subject);
    const names = ruleNames(latest.ruleSet);
    expect(isDeepStrictEqual(names, ['defaultCheck', 'mine', 'overrideCheck']), `domain rules ${JSON.stringify(names)}`);
    expect(isDeepStrictEqual(props(latest.metadata), want), `metadata properties ${JSON.stringify(props(latest.metadata))}`);
    return `version ${latest.version}: rules ${JSON.stringify(names)}`;
  });
}

async function carryoverChecks(env) {
  const subject = `${env.name('carry')}-value`;
  await check(`carryover: register v1 of ${subject} with metadata {owner: bob} and rule idPresent`, async () =>
    `id ${(await env.register(subject, ACCOUNT, { properties: { owner: 'bob' } },
      { domainRules: [cond('idPresent', "message.id != ''")] })).id}`);
  await check("carryover: v2 registered without metadata or ruleSet carries v1's", async () => {
    await env.register(subject, ACCOUNT_V2);
    const latest = await env.freshClient().getLatestSchemaMetadata(subject);
    expect(latest.version === 2, `latest is version ${latest.version}`);
    expect(isDeepStrictEqual(props(latest.metadata), { owner: 'bob' }),
      `v2 metadata properties ${JSON.stringify(props(latest.metadata))}, expected v1's {"owner":"bob"}`);
    expect(isDeepStrictEqual(ruleNames(latest.ruleSet), ['idPresent']),
      `v2 domain rules ${JSON.stringify(ruleNames(latest.ruleSet))}, expected v1's ["idPresent"]`);
    return `v2 properties ${JSON.stringify(props(latest.metadata))}, rules ${JSON.stringify(ruleNames(latest.ruleSet))}`;
  });
  await check('carryover: v3 registered with its own metadata and ruleSet replaces them', async () => {
    await env.register(subject, ACCOUNT, { properties: { team: 'x' } }, { domainRules: [cond('other')] });
    const latest = await env.freshClient().getLatestSchemaMetadata(subject);
    expect(latest.version === 3, `latest is version ${latest.version}`);
    expect(isDeepStrictEqual(props(latest.metadata), { team: 'x' }) && isDeepStrictEqual(ruleNames(latest.ruleSet), ['other']),
      `v3 properties ${JSON.stringify(props(latest.metadata))}, rules ${JSON.stringify(ruleNames(latest.ruleSet))}: its own should replace v2's`);
    return `v3 properties ${JSON.stringify(props(latest.metadata))}, rules ${JSON.stringify(ruleNames(latest.ruleSet))}`;
  });
}

const REJECTED_RULE_SETS = [
  ['missing rule name', { domainRules: [rule({ kind: 'CONDITION', mode: 'WRITE', type: 'CEL', expr: 'true' })] }, 'Missing rule name'],
  ['empty rule name', { domainRules: [rule({ name: '', mode: 'WRITE', type: 'CEL', expr: 'true' })] }, 'Empty rule name'],
  ['rule name too long (257 chars)', { domainRules: [cond('r'.repeat(257))] }, 'Rule name too long'],
  ['illegal initial character', { domainRules: [cond('1rule')] }, 'Illegal initial character in rule name: 1rule'],
  ['illegal character', { domainRules: [cond('rule$x')] }, 'Illegal character in rule name: rule$x'],
  ['missing rule type', { domainRules: [rule({ name: 'noType', kind: 'CONDITION', mode: 'WRITE', expr: 'true' })] }, 'Missing rule type'],
  ['duplicate names', { domainRules: [cond('dup'), cond('dup')] }, "Found rule with duplicate name 'dup'"],
  ['duplicate names across phases', {
    migrationRules: [rule({ name: 'twice', mode: 'UPGRADE', type: 'JSONATA', expr: '$' })], domainRules: [cond('twice')],
  }, "Found rule with duplicate name 'twice'"],
  ['migration rule with mode WRITE', { migrationRules: [rule({ name: 'mig', mode: 'WRITE', type: 'JSONATA', expr: '$' })] },
    'Migration rules can only be UPGRADE, DOWNGRADE, UPDOWN'],
  ['domain rule with mode UPGRADE', { domainRules: [rule({ name: 'dom', mode: 'UPGRADE', type: 'CEL', expr: 'true' })] },
    'Domain rules can only be WRITE, READ, WRITEREAD'],
  ['encoding rule with mode DOWNGRADE', { encodingRules: [rule({ name: 'enc', mode: 'DOWNGRADE', type: 'ENCRYPT_PAYLOAD' })] },
    'Encoding rules can only be WRITE, READ, WRITEREAD'],
  ['two onFailure actions with mode WRITE', {
    domainRules: [rule({ name: 'twoActions', kind: 'CONDITION', mode: 'WRITE', type: 'CEL', expr: 'true', onFailure: 'ERROR,NONE' })],
  }, 'Multiple actions only valid with WRITEREAD and UPDOWN'],
  ['two onSuccess actions with mode READ', {
    domainRules: [rule({ name: 'twoSuccess', kind: 'CONDITION', mode: 'READ', type: 'CEL', expr: 'true', onSuccess: 'NONE,NONE' })],
  }, 'Multiple actions only valid with WRITEREAD and UPDOWN'],
];

async function ruleValidationChecks(env) {
  const subject = `${env.name('rules')}-value`;
  for (const [label, ruleSet, message] of REJECTED_RULE_SETS) {
    await check(`rule-validation: ${label} -> 42210`, async () => {
      const e = await rejects(() => env.freshClient().register(subject, { schemaType: 'AVRO', schema: JSON.stringify(ACCOUNT), ruleSet }));
      expect(e instanceof RestError && e.status === 422 && e.errorCode === 42210,
        `expected HTTP 422 error_code 42210, got ${describe(e)}`);
      expect(e.message.includes(message), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(message)}`);
      return `${e.errorCode} ${JSON.stringify(e.message)}`;
    }, { independent: true });
  }
  await check(`rule-validation: nothing was stored under ${subject}`, async () => {
    const e = await rejects(() => env.freshClient().getAllVersions(subject));
    expect(e instanceof RestError && e.status === 404 && e.errorCode === 40401, `getAllVersions: ${describe(e)}`);
    return `${e.errorCode} ${JSON.stringify(e.message)}`;
  });
  await check('rule-validation: a valid ruleSet (256-char name, `_` start, `-`, UPDOWN with two actions) registers', async () =>
    `id ${(await env.register(subject, ACCOUNT, undefined, {
      domainRules: [cond('r'.repeat(256)), cond('_under-score_1')],
      migrationRules: [rule({ name: 'up', mode: 'UPDOWN', type: 'JSONATA', expr: '$', onSuccess: 'NONE,NONE', onFailure: 'ERROR,NONE' })],
    })).id}`);
}

// f. Associations -------------------------------------------------------------------------------

const SHIPMENT = record('Shipment', [{ name: 'id', type: 'string' }]);

async function associationChecks(env) {
  const rec = { id: 's-1' };
  const subjects = async () => new Set(await env.freshClient().getAllSubjects());
  await check('associations: a topic without an association uses <topic>-value (default strategy)', async () => {
    const topic = env.name('noassoc');
    await env.register(`${topic}-value`, SHIPMENT);
    const payload = await env.latestSerializer().serialize(topic, rec);
    const latest = await env.freshClient().getLatestSchemaMetadata(`${topic}-value`);
    expect(schemaIdOf(payload) === latest.id, `payload names schema ${schemaIdOf(payload)}, ${topic}-value has ${latest.id}`);
    return `looked up under ${topic}-value (id ${latest.id})`;
  });
  const topic = env.name('assoc');
  const target = env.name('assoc-target');
  const { id: targetId } = await check(`associations: register ${target} (an association needs a live version)`, async () => {
    const registered = await env.register(target, SHIPMENT);
    return { id: registered.id, detail: `id ${registered.id}` };
  });
  await check(`associations: createAssociation topic ${topic} (namespace ${CLUSTER_ID}) value -> ${target}`, async () => {
    const response = await env.client.createAssociation({
      resourceName: topic, resourceNamespace: CLUSTER_ID, resourceId: `${CLUSTER_ID}-${topic}-id`, resourceType: 'topic',
      associations: [{ subject: target, associationType: 'value', lifecycle: 'WEAK' }],
    });
    const infos = response?.associations ?? [];
    expect(infos.length === 1 && infos[0].subject === target && infos[0].associationType === 'value',
      `createAssociation answered ${JSON.stringify(response)}`);
    return `${response.resourceNamespace}/${response.resourceName} -> ${infos[0].subject} (${infos[0].lifecycle})`;
  });
  await check("associations: getAssociationsByResourceName(topic, '-') finds it", async () => {
    const found = await env.freshClient().getAssociationsByResourceName(topic, '-', 'topic', ['value'], null, 0, -1);
    expect(isDeepStrictEqual(found.map((a) => a.subject), [target]), `associations for ${topic}: ${JSON.stringify(found)}`);
    return JSON.stringify(found.map((a) => [a.resourceNamespace, a.resourceName, a.subject]));
  });
  for (const [config, label] of [[undefined, '(wildcard namespace)'],
    [{ [KAFKA_CLUSTER_ID]: CLUSTER_ID }, `with cluster id ${CLUSTER_ID}`]]) {
    await check(`associations: the default strategy ${label} looks up under ${target}`, async () => {
      const conf = config ? { subjectNameStrategyConfig: config } : {};
      const payload = await env.latestSerializer(conf).serialize(topic, rec);
      expect(schemaIdOf(payload) === targetId, `payload names schema ${schemaIdOf(payload)}, ${target} has ${targetId}`);
      expect(!(await subjects()).has(`${topic}-value`), `${topic}-value exists`);
      const got = plain(await env.deserializer(conf).deserialize(topic, payload));
      expect(isDeepStrictEqual(got, rec), `read back ${JSON.stringify(got)}`);
      return `schema ${targetId} from ${target}; no ${topic}-value`;
    });
  }
  await check('associations: with another cluster id the association does not apply: <topic>-value', async () => {
    const conf = { subjectNameStrategyConfig: { [KAFKA_CLUSTER_ID]: 'js-other-cluster' } };
    const e = await rejects(() => env.latestSerializer(conf).serialize(topic, rec));
    expect(e instanceof RestError && e.status === 404 && e.errorCode === 40401 && e.message.includes(`${topic}-value`),
      `expected the lookup of ${topic}-value to fail with 40401, got ${describe(e)}`);
    return `looked up ${topic}-value: ${describe(e)}`;
  });
}

// Cross-language: the Python script's payloads --------------------------------------------------

async function consumeChecks(env, selected, source = 'py') {
  if (!Object.keys(PAYLOAD_KINDS).some((name) => selected.includes(name))) return;
  const file = path.join(env.workdir, `${source}-encrypted.json`);
  const writer = { py: 'Python', rs: 'Rust', js: 'Node' }[source] ?? source;
  const data = await check(`cross: read ${file}`, async () => {
    expect(fs.existsSync(file), `${file} is missing: run \`python contracts.py URL WORKDIR produce\` first`);
    return { data: JSON.parse(fs.readFileSync(file, 'utf8')) };
  }).then((r) => r.data);
  for (const [checkName, kind] of Object.entries(PAYLOAD_KINDS)) {
    if (!selected.includes(checkName)) continue;
    await check(`cross: AvroDeserializer decrypts the ${writer} ${kind} payload`, async () => {
      const entry = data[kind];
      expect(entry, `${file} has no ${JSON.stringify(kind)} payload (the ${writer} run did not pass ${checkName})`);
      expect(entry.secret === CLIENT_SECRET, `the ${writer} payload was written with secret ${entry.secret}, this script uses ${CLIENT_SECRET}`);
      expect(entry.subject === `${entry.topic}-value`, `unexpected subject ${entry.subject}`);
      const payload = Buffer.from(entry.payload_hex, 'hex');
      expect(!payload.includes(Buffer.from(entry.plaintext)), `the plaintext is in the ${writer} payload`);
      const got = plain(await env.deserializer({}, env.freshClient()).deserialize(entry.topic, payload));
      expect(isDeepStrictEqual(got, entry.expected), `read back ${JSON.stringify(got)}, expected ${JSON.stringify(entry.expected)}`);
      return `${entry.topic} (kek ${entry.kek}): ${JSON.stringify(got)}`;
    }, { independent: true });
  }
}

const GROUPS = {
  cel: celChecks, 'cel-field': celFieldChecks, jsonata: jsonataChecks, encrypt: encryptChecks,
  'encrypt-shared': encryptSharedChecks, defaults: defaultsChecks, carryover: carryoverChecks,
  'rule-validation': ruleValidationChecks, associations: associationChecks,
};

const args = [];
let only = null;
let runId = null;
let source = 'py';
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i];
  if (arg === '--keep-going') keepGoing = true;
  else if (arg === '--only') only = argv[++i] ?? '';
  else if (arg.startsWith('--only=')) only = arg.slice('--only='.length);
  else if (arg === '--run-id') runId = argv[++i] ?? '';
  else if (arg === '--from') source = argv[++i] ?? 'py';
  else if (arg.startsWith('--run-id=')) runId = arg.slice('--run-id='.length);
  else args.push(arg);
}
if (![2, 3].includes(args.length) || (args.length === 3 && !['produce', 'consume', 'all'].includes(args[2]))) {
  console.error('usage: node contracts.mjs URL WORKDIR [produce|consume|all] [--only CHECK[,CHECK...]] [--run-id ID] [--keep-going]');
  console.error(`checks: ${ALL_CHECKS.join(', ')}`);
  process.exit(2);
}
const [url, workdir] = args;
const mode = args[2] ?? 'all';
const selected = only ? only.split(',').map((c) => c.trim()).filter(Boolean) : ALL_CHECKS;
const unknown = selected.filter((c) => !ALL_CHECKS.includes(c));
if (unknown.length) {
  console.error(`unknown check(s) ${unknown.join(', ')}; checks: ${ALL_CHECKS.join(', ')}`);
  process.exit(2);
}
fs.mkdirSync(workdir, { recursive: true });
const env = new Env(url, workdir, runId || crypto.randomBytes(3).toString('hex'));
console.log(`note  run id ${env.runId}, mode ${mode}, checks ${selected.join(', ')}`);
async function runGroup(fn, ...rest) {
  try {
    await fn(...rest);
  } catch (e) {
    if (!(e instanceof GroupAborted)) throw e;
  }
}
if (mode === 'produce' || mode === 'all') {
  fs.rmSync(path.join(workdir, 'js-encrypted.json'), { force: true });
  for (const name of ALL_CHECKS) {
    if (selected.includes(name)) await runGroup(GROUPS[name], env);
  }
}
if (mode === 'consume' || mode === 'all') await runGroup(consumeChecks, env, selected, source);
if (failures.length) {
  console.log(`${failures.length} node contract check(s) failed (${mode}): ${failures.join('; ')}`);
  process.exit(1);
}
console.log(`all node contract checks passed (${mode})`);
process.exit(0);
