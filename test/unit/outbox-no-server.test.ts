// The outbox drops a copy for a domain that does not exist (PEOPLE_NO_SERVER:
// an answer, reported as undeliverable at once) and keeps one for a server
// that cannot be reached now (deferred, tried again). A fake store with the
// outbox's part of ClientStore only; the discovery answers as the test says.
import assert from "node:assert/strict";
import { PeopleError } from "../../src/people/errors.js";
import { noServer, type Discovery } from "../../src/people/net/discovery.js";
import { Outbox } from "../../src/people/client/outbox.js";
import { ClientEvents, type DeliveryEvent, type DeferredEvent } from "../../src/people/client/events.js";
import type { ClientStore, OutboxInsert, OutboxRow } from "../../src/people/client/local-store.js";

class OutboxOnlyStore {
  rows: OutboxRow[] = [];
  private id = 0;
  async enqueue(rows: OutboxInsert[]): Promise<void> {
    for (const r of rows)
      this.rows.push({ ...r, id: ++this.id, attempts: 0, nextAttemptAt: 0, lastError: null });
  }
  async outbox(): Promise<OutboxRow[]> {
    return this.rows.map((r) => ({ ...r }));
  }
  async updateOutbox(id: number, row: OutboxRow): Promise<void> {
    this.rows = this.rows.map((r) => (r.id === id ? { ...row } : r));
  }
  async removeOutbox(id: number): Promise<void> {
    this.rows = this.rows.filter((r) => r.id !== id);
  }
}

function outboxWith(resolve: (domain: string) => Promise<string>) {
  const store = new OutboxOnlyStore();
  const events = new ClientEvents();
  const undeliverable: DeliveryEvent[] = [];
  const deferred: DeferredEvent[] = [];
  events.on("undeliverable", (e) => undeliverable.push(e));
  events.on("deferred", (e) => deferred.push(e));
  const discovery = { resolve, forget: () => undefined } as unknown as Discovery;
  const outbox = new Outbox({
    store: store as unknown as ClientStore,
    http: { send: () => Promise.reject(new Error("no request expected")) },
    discovery,
    events,
    now: Date.now,
    backoff: { onlineMaxMs: 0 },
  });
  return { store, outbox, undeliverable, deferred };
}

const copy = (address: string): OutboxInsert => ({
  envelopeId: `env-${address}`,
  messageId: "m1",
  address,
  outer: Buffer.from("sealed"),
  createdAt: Date.now(),
  expiresAt: Date.now() + 60_000,
});

describe("outbox: no such domain is an answer, a server that is down is not", () => {
  it("drops the copy for a domain that does not exist, reporting PEOPLE_NO_SERVER", async () => {
    const t = outboxWith((domain) => Promise.reject(noServer(domain)));
    await t.outbox.enqueue([copy("x@example.invalid")]);
    await t.outbox.drain();
    assert.deepEqual(t.store.rows, []);
    assert.deepEqual(t.undeliverable, [
      {
        envelopeId: "env-x@example.invalid",
        messageId: "m1",
        address: "x@example.invalid",
        code: "PEOPLE_NO_SERVER",
      },
    ]);
    assert.deepEqual(t.deferred, []);
  });

  it("keeps the copy for a server that cannot be reached, to try again", async () => {
    const t = outboxWith(() => Promise.reject(new PeopleError("PEOPLE_UNAVAILABLE", "connection refused")));
    await t.outbox.enqueue([copy("joe@down.example")]);
    await t.outbox.drain();
    assert.equal(t.store.rows.length, 1);
    assert.equal(t.store.rows[0]!.attempts, 1);
    assert.equal(t.deferred.length, 1);
    assert.equal(t.deferred[0]!.code, "PEOPLE_UNAVAILABLE");
    assert.deepEqual(t.undeliverable, []);
  });
});
