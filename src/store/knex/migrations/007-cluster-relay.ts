// Realtime relay frames between the processes of one domain (on PostgreSQL):
// which process holds a live socket of which device (live_sessions), each
// process's heartbeat (cluster_processes: a process that stops beating is
// dead, its routes and frames are deleted), and the frames in transit
// (relay_frames, deleted when read; UNLOGGED on PostgreSQL: a frame is
// worth nothing after a crash, the session's ends retry or give up).
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("cluster_processes", (t) => {
    t.text("id").primary();
    t.bigInteger("heartbeat_at").notNullable().index();
  });
  await knex.schema.createTable("live_sessions", (t) => {
    t.text("address").notNullable();
    t.text("device").notNullable();
    t.text("process").notNullable().index();
    t.primary(["address", "device", "process"]);
  });
  await knex.schema.createTable("relay_frames", (t) => {
    t.bigIncrements("id").primary();
    t.text("process").notNullable().index();
    t.text("from_address").notNullable();
    t.text("from_device").notNullable();
    t.text("to_address").notNullable();
    t.text("to_device").notNullable();
    t.text("session").notNullable();
    t.text("data").notNullable();
  });
  if (knex.client.config.client === "pg") await knex.raw("ALTER TABLE relay_frames SET UNLOGGED");
}

export function down(): Promise<void> {
  return Promise.reject(new Error("migrations are forward-only"));
}
