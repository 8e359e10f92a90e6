// The web console in headless Chromium (Debian's, driven by playwright-core), against a
// running covenant that tests/console.rs started and seeded: orders-value (Avro, three
// versions by root and dev, the third incompatible with the second), users-proto (Protobuf),
// payments-json (JSON Schema); users root (admin), dev (developer), viewer (readonly), all with
// the password s3cret.
//
//   COVENANT_URL=http://127.0.0.1:PORT COVENANT_CHROMIUM=/usr/bin/chromium \
//   COVENANT_SCREENSHOTS=target/console-screenshots node tests/console/console.mjs
//
// Exits 0 and prints "all console checks passed" when every check holds.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import path from "node:path";

const url = process.env.COVENANT_URL;
const executablePath = process.env.COVENANT_CHROMIUM || "/usr/bin/chromium";
const shots = process.env.COVENANT_SCREENSHOTS || "target/console-screenshots";
assert.ok(url, "COVENANT_URL names the server");

const step = (name) => console.log(`- ${name}`);
const shot = (page, name) => page.screenshot({ path: path.join(shots, name), fullPage: true });

async function signIn(browser, user) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    // A CSP violation or a script error shows here: none is expected.
    if (message.type() === "error") errors.push(message.text());
  });
  await page.goto(`${url}/ui/`);
  assert.match(page.url(), /\/ui\/login\?next=/, "not signed in: the sign-in page");
  await page.fill("#username", user);
  await page.fill("#password", "s3cret");
  await Promise.all([page.waitForURL(`${url}/ui/`), page.click("form.card button[type=submit] >> nth=0")]);
  await page.waitForSelector(`text=Signed in as ${user}`);
  return { context, page, errors };
}

async function rest(method, route, body) {
  const response = await fetch(`${url}${route}`, {
    method,
    headers: {
      Authorization: "Basic " + Buffer.from("root:s3cret").toString("base64"),
      "Content-Type": "application/vnd.schemaregistry.v1+json",
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  return response.json();
}

const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
try {
  const { context, page, errors } = await signIn(browser, "root");

  step("subjects: every subject with its format, level and semantic version");
  const rows = page.locator("#subjects tbody tr");
  assert.equal(await rows.count(), 3);
  const orders = page.locator("#subjects tbody tr", { hasText: "orders-value" });
  assert.match(await orders.innerText(), /AVRO\s+3\s+3\s+2\.0\.0\s+BACKWARD\s+READWRITE/);
  await shot(page, "subjects.png");

  step("keyboard: '/' focuses the field search, Tab reaches the skip link first");
  await page.keyboard.press("/");
  assert.equal(await page.evaluate(() => document.activeElement.id), "field");
  await page.goto(`${url}/ui/`);
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.className), "skip");

  step("field search: customer_id in Avro, JSON Schema and Protobuf");
  await page.fill("#field", "customer_id");
  await Promise.all([page.waitForURL(/field=customer_id/), page.press("#field", "Enter")]);
  const hits = page.locator("a.field-hit");
  assert.equal(await hits.count(), 3);
  const hitTable = await page.locator("table.list").first().innerText();
  for (const [subject, format] of [["orders-value", "AVRO"], ["payments-json", "JSON"], ["users-proto", "PROTOBUF"]]) {
    assert.match(hitTable, new RegExp(`${subject}\\s+\\d+\\s+${format}\\s+customer_id`), hitTable);
  }
  await Promise.all([page.waitForURL(/users-proto/), page.locator("tr", { hasText: "users-proto" }).locator("a.field-hit").click()]);
  const marked = page.locator("tr:has(#field)");
  assert.match(await marked.innerText(), /string customer_id = 2;/);
  await shot(page, "schema.png");

  step("schema: the Avro text formatted, its tagged field marked");
  await page.goto(`${url}/ui/schema?s=orders-value&v=1`);
  const tagNote = page.locator("tr.note.tag");
  assert.equal(await tagNote.count(), 1);
  assert.match(await tagNote.innerText(), /tagged customer_id: PII/);

  step("subject: timeline with semantic versions and both principals, settings and their sources");
  await page.goto(`${url}/ui/subject?s=orders-value`);
  const timeline = await page.locator("ol.timeline").innerText();
  assert.match(timeline, /Version 1 · 1\.0\.0[^\n]*by root/);
  assert.match(timeline, /Version 2 · 1\.1\.0 \(minor\)[^\n]*by dev/);
  assert.match(timeline, /Version 3 · 2\.0\.0 \(major\)[^\n]*by dev/);
  const settings = await page.locator("section", { hasText: "Settings in force" }).innerText();
  assert.match(settings, /compatibilityLevel\s+BACKWARD\s+subject/);
  assert.match(settings, /mode\s+READWRITE\s+server default/);
  await shot(page, "subject.png");

  step("diff: the incompatible pair's findings on the lines they concern, a verdict per level");
  await Promise.all([page.waitForURL(/\/ui\/diff/), page.click("text=diff with 2")]);
  assert.match(await page.locator("p.verdict").innerText(), /breaks BACKWARD at \/fields\/0\/type/);
  const verdicts = await page.locator("table.verdicts").innerText();
  assert.match(verdicts, /BACKWARD \(in force\)\s+✗ breaks/);
  assert.match(verdicts, /NONE\s+✓ compatible/);
  // The BACKWARD finding on the new side sits under the line of the changed type.
  const newNote = page.locator("section[aria-labelledby=new-title] tr.note.breaks").first();
  assert.match(await newNote.innerText(), /✗ breaks BACKWARD TYPE_MISMATCH at \/fields\/0\/type/);
  const lineAbove = await newNote.evaluate((row) => {
    let above = row.previousElementSibling;
    while (above && above.classList.contains("note")) above = above.previousElementSibling;
    return above.innerText;
  });
  assert.match(lineAbove, /"type": "long"/);
  // The removed field's FORWARD finding is on the old side, at the field's object.
  const oldNotes = await page.locator("section[aria-labelledby=old-title] tr.note.breaks").allInnerTexts();
  assert.ok(oldNotes.some((n) => /breaks FORWARD READER_FIELD_MISSING_DEFAULT_VALUE at \/fields\/1/.test(n)), oldNotes.join("\n"));
  // The removed field's change is on the old side too (the new side's /fields/1 is another field).
  const oldChanges = await page.locator("section[aria-labelledby=old-title] tr.note.change").allInnerTexts();
  const newChanges = await page.locator("section[aria-labelledby=new-title] tr.note.change").allInnerTexts();
  assert.ok(oldChanges.some((n) => /FIELD_REMOVED at \/fields\/1/.test(n)), oldChanges.join("\n"));
  assert.ok(!newChanges.some((n) => /FIELD_REMOVED/.test(n)), newChanges.join("\n"));
  assert.ok(newChanges.some((n) => /TYPE_CHANGED at \/fields\/0\/type/.test(n)), newChanges.join("\n"));
  await shot(page, "diff.png");

  step("try a change: the verdict the REST API gives, and the semantic version it would get");
  const candidate = JSON.stringify({
    type: "record", name: "Order",
    fields: [{ name: "customer_id", type: "long" }, { name: "note", type: "int" }],
  });
  const expected = await rest("POST", "/compatibility/subjects/orders-value/versions?verbose=true", { schema: candidate });
  assert.equal(expected.is_compatible, false);
  await page.goto(`${url}/ui/try?s=orders-value`);
  await page.fill("#schema", candidate);
  await Promise.all([page.waitForLoadState("load"), page.click("button[value=check]")]);
  await page.waitForSelector("#verdict-title");
  assert.match(await page.locator("#verdict-title").innerText(), /✗ incompatible under BACKWARD/);
  const findings = await page.locator("table.findings").innerText();
  for (const finding of expected.findings) assert.ok(findings.includes(finding.kind), finding.kind);
  await shot(page, "try.png");
  const good = JSON.stringify({
    type: "record", name: "Order",
    fields: [{ name: "customer_id", type: "long" }, { name: "note", type: "string", default: "" }, { name: "extra", type: "int", default: 0 }],
  });
  await page.fill("#schema", good);
  await Promise.all([page.waitForLoadState("load"), page.click("button[value=check]")]);
  await page.waitForSelector("#verdict-title");
  assert.match(await page.locator("#verdict-title").innerText(), /✓ compatible under BACKWARD/);
  assert.match(await page.locator(".semver-preview").innerText(), /version 4, semantic version 2\.1\.0 \(a minor change\)/);

  step("audit: two principals' writes, filterable");
  await page.goto(`${url}/ui/audit`);
  const audit = await page.locator("#audit").innerText();
  assert.match(audit, /root\s+basic/);
  assert.match(audit, /dev\s+basic/);
  await page.selectOption("#action", "schema_registered");
  await page.fill("#principal", "dev");
  await Promise.all([page.waitForURL(/principal=dev/), page.click("form.filters button")]);
  const filtered = await page.locator("#audit tbody tr").allInnerTexts();
  assert.equal(filtered.length, 3, filtered.join("\n"));
  assert.ok(filtered.every((row) => /dev/.test(row) && /schema_registered/.test(row)));
  await shot(page, "audit.png");

  step("admin: set a level through the confirmation page");
  await page.goto(`${url}/ui/subject?s=users-proto`);
  await page.selectOption("#level", "FULL");
  await Promise.all([page.waitForURL(/\/ui\/confirm/), page.click("text=Set level…")]);
  assert.match(await page.locator("p.confirm").innerText(), /Set the compatibility level of users-proto to FULL\?/);
  await Promise.all([page.waitForURL(/done=/), page.click("button.danger")]);
  assert.match(await page.locator("p.done").innerText(), /Done/);
  assert.equal((await rest("GET", "/config/users-proto")).compatibilityLevel, "FULL");
  assert.deepEqual(errors, [], "no script error and no CSP violation");
  await context.close();

  step("readonly: no admin action on any page, and a forged one is 403");
  const viewer = await signIn(browser, "viewer");
  await viewer.page.goto(`${url}/ui/subject?s=orders-value`);
  assert.equal(await viewer.page.locator("text=Administration").count(), 0);
  assert.equal(await viewer.page.locator("form[action='/ui/confirm']").count(), 0);
  assert.equal(await viewer.page.locator("nav >> text=Audit").count(), 0);
  const status = await viewer.page.evaluate(async () => {
    const csrf = document.querySelector("input[name=csrf]").value;
    const body = new URLSearchParams({ csrf, s: "orders-value", action: "delete-subject" });
    const response = await fetch("/ui/admin", { method: "POST", body });
    return response.status;
  });
  assert.equal(status, 403);
  assert.deepEqual(await rest("GET", "/subjects/orders-value/versions"), [1, 2, 3]);
  // The forged request's own 403 is the one error the browser reports.
  assert.deepEqual(viewer.errors.filter((e) => !/status of 403/.test(e)), []);
  await viewer.context.close();
  console.log("all console checks passed");
} finally {
  await browser.close();
}
