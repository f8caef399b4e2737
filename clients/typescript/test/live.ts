/**
 * The TypeScript client against a live server (run by tests/clients/test_typescript_client.py):
 *
 *   node dist/test/live.js <base url> <api key> <step>
 *
 * Steps: `roundtrip` (write, get, retrieve, delete, then a 404's type), `listing` (GET /memories pages),
 * `request-id` (an error's type, field and request id). Prints "ok <step>"; any failed check throws.
 */
import assert from "node:assert/strict";

import { createEBMMClient, EBMMError, type EBMMClient, REQUEST_ID_HEADER, unwrap } from "../src/index.js";

const [baseUrl, apiKey, step] = process.argv.slice(2);
if (!baseUrl || !apiKey || !step) {
  throw new Error("usage: node dist/test/live.js <base url> <api key> <roundtrip|listing|request-id>");
}
const client = createEBMMClient({ baseUrl, apiKey });

/** The first binary model served: its name and input_dim. */
async function binaryModel(): Promise<{ name: string; dim: number }> {
  const { models } = unwrap(await client.GET("/models"));
  const model = models.find((m) => m.domain === "binary");
  assert.ok(model, "no binary model served");
  return { name: model.name, dim: model.input_dim };
}

/** count ±1 rows of dim entries, each different. */
function patterns(count: number, dim: number): number[][] {
  return Array.from({ length: count }, (_, r) => Array.from({ length: dim }, (_, i) => ((i * (r + 3)) % 5 < 2 ? 1 : -1)));
}

async function write(name: string, rows: number[][]) {
  return unwrap(await client.POST("/memories", { body: { model: name, patterns: rows } }));
}

async function expectError(call: Promise<unknown>): Promise<EBMMError> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof EBMMError, `not an EBMMError: ${String(error)}`);
    return error;
  }
  assert.fail("the call did not fail");
}

async function roundtrip(c: EBMMClient): Promise<void> {
  const { name, dim } = await binaryModel();
  const rows = patterns(2, dim);
  const memory = await write(name, rows);
  assert.equal(memory.model, name);
  assert.equal(memory.num_patterns, 2);
  const path = { params: { path: { memory_id: memory.id } } };
  assert.deepEqual(unwrap(await c.GET("/memories/{memory_id}", path)), memory);

  const known = Math.floor(dim / 2);
  const query = rows[1]!.map((v, i) => (i < known ? v : 0)); // the second half unknown
  const answer = unwrap(await c.POST("/memories/{memory_id}/retrieve", { ...path, body: { queries: [query] } }));
  const answered = answer.patterns;
  assert.ok(answered, "a JSON query gets JSON patterns");
  assert.equal(answered.length, 1);
  assert.equal(answered[0]!.length, dim);
  assert.deepEqual(answered[0]!.slice(0, known), query.slice(0, known)); // known entries are kept
  assert.ok(answered[0]!.every((v) => v === 1 || v === -1));
  assert.equal(answer.energies.length, 1);

  unwrap(await c.DELETE("/memories/{memory_id}", path));
  const gone = await expectError(c.GET("/memories/{memory_id}", path).then(unwrap));
  assert.equal(gone.status, 404);
  assert.equal(gone.type, "not_found");
}

async function listing(c: EBMMClient): Promise<void> {
  const { name, dim } = await binaryModel();
  const written = [];
  for (const rows of [patterns(1, dim), patterns(2, dim), patterns(3, dim)]) {
    written.push(await write(name, rows));
  }
  const newestFirst = written.map((m) => m.id).reverse();
  const first = unwrap(await c.GET("/memories", { params: { query: { limit: 2, model: name } } }));
  assert.deepEqual(
    first.memories.map((m) => m.id),
    newestFirst.slice(0, 2),
  );
  assert.ok(first.next_cursor, "a first page of 2 has a next cursor");
  const second = unwrap(
    await c.GET("/memories", { params: { query: { limit: 2, model: name, cursor: first.next_cursor } } }),
  );
  assert.equal(second.memories[0]!.id, newestFirst[2]);
  for (const memory of written) {
    unwrap(await c.DELETE("/memories/{memory_id}", { params: { path: { memory_id: memory.id } } }));
  }
}

async function requestId(c: EBMMClient): Promise<void> {
  const { name, dim } = await binaryModel();
  const sent = "ts-client-check-1";
  const wrongDims = { model: name, patterns: [new Array<number>(dim + 1).fill(1)] };
  const error = await expectError(
    c.POST("/memories", { body: wrongDims, headers: { [REQUEST_ID_HEADER]: sent } }).then(unwrap),
  );
  assert.equal(error.status, 422);
  assert.equal(error.type, "validation");
  assert.ok(error.field?.startsWith("patterns"), `field ${error.field}`);
  assert.equal(error.requestId, sent);
  const generated = await expectError(c.GET("/memories/{memory_id}", { params: { path: { memory_id: "nope" } } }).then(unwrap));
  assert.ok(generated.requestId, "the server generates a request id when the client sends none");
}

const steps: Record<string, (c: EBMMClient) => Promise<void>> = { roundtrip, listing, "request-id": requestId };
const run = steps[step];
if (!run) {
  throw new Error(`unknown step ${step}`);
}
await run(client);
console.log(`ok ${step}`);
