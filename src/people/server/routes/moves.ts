// Moves (PROTOCOL §20): the public notice of an account that moved, and
// storing one (authorized by the account key's signature on it, like a device list).
import Router from "@koa/router";
import { z } from "zod";
import { PeopleError } from "../../errors.js";
import { readJson } from "../http.js";
import type { MoveService } from "../move-service.js";
import { pathAddress } from "./accounts.js";

const putSchema = z.strictObject({ notice: z.unknown() });

export function moveRoutes(o: { moves: MoveService; maxJson: number }): Router {
  const r = new Router({ prefix: "/_people/v1" });

  r.get("/accounts/:address/move", async (ctx) => {
    const notice = await o.moves.notice(pathAddress(ctx.params.address), Date.now());
    if (!notice) throw new PeopleError("PEOPLE_NOT_FOUND", "this account has not moved");
    ctx.set("Cache-Control", "no-cache");
    ctx.body = { notice };
  });

  r.put("/accounts/:address/move", async (ctx) => {
    const body = await readJson(ctx, putSchema, o.maxJson);
    const to = await o.moves.put(pathAddress(ctx.params.address), body.notice, Date.now());
    ctx.body = { moved_to: to };
  });

  return r;
}
