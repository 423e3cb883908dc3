// The bridge's message metrics without IO: counters by direction and kind or
// reason, the to_people latency observed when the People server accepts the
// envelope (and not for a refused one), and the outbox gauge read at scrape time.
import assert from "node:assert/strict";
import { BridgeMetrics } from "../../src/bridge/metrics.js";

const text = (m: BridgeMetrics, name: string) => m.registry.getSingleMetricAsString(name);

describe("bridge message metrics", function () {
  it("counts bridged messages by direction and kind, failures by reason", async function () {
    const m = new BridgeMetrics();
    m.bridged("to_people", "text");
    m.bridged("to_people", "text");
    m.bridged("to_matrix", "attachment");
    m.failed("to_people", "unsupported_type");
    const bridged = await text(m, "bridge_messages_total");
    assert.match(bridged, /direction="to_people",kind="text"\} 2/);
    assert.match(bridged, /direction="to_matrix",kind="attachment"\} 1/);
    assert.match(await text(m, "bridge_message_failures_total"), /reason="unsupported_type"\} 1/);
  });

  it("observes to_people latency from origin_server_ts to the envelope accepted, once", async function () {
    const m = new BridgeMetrics();
    m.sentToPeople("m1", 1_000);
    m.sentToPeople("m2", 1_000);
    m.sentToPeople("m3", undefined);
    m.peopleDelivery("m1", true, 1_004);
    m.peopleDelivery("m1", true, 9_000); // a second copy is not a second sample
    m.peopleDelivery("m2", false, 1_002); // refused: no latency
    m.peopleDelivery("m3", true, 1_002); // no origin time known
    const hist = await text(m, "bridge_message_latency_seconds");
    assert.match(hist, /bridge_message_latency_seconds_count\{direction="to_people"\} 1/);
    assert.match(hist, /bridge_message_latency_seconds_sum\{direction="to_people"\} 0.004/);
    assert.match(hist, /le="0.005",direction="to_people"\} 1/);
    assert.match(hist, /le="0.0025",direction="to_people"\} 0/);
  });

  it("reads the outbox depth at scrape time", async function () {
    const m = new BridgeMetrics();
    let depth = 3;
    m.trackOutbox(async () => depth);
    assert.match(await m.registry.metrics(), /bridge_people_outbox_messages 3/);
    depth = 0;
    assert.match(await m.registry.metrics(), /bridge_people_outbox_messages 0/);
  });

  it("reads the store connections open and opened at scrape time", async function () {
    const m = new BridgeMetrics();
    const pool = { open: 2, opened: 5 };
    m.trackStores(() => pool);
    assert.match(
      await m.registry.metrics(),
      /bridge_people_store_connections 2\n[\s\S]*bridge_people_store_opens 5/,
    );
    pool.opened = 9;
    assert.match(await m.registry.metrics(), /bridge_people_store_opens 9/);
  });
});
