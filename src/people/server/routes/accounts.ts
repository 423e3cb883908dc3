// Accounts, device lists, device authentication and public profiles.
import Router from "@koa/router";
import { z } from "zod";
import { PeopleError } from "../../errors.js";
import { parseAddress, type PeopleAddress } from "../../protocol/address.js";
import { parseDeviceId } from "../../protocol/ids.js";
import { signature64 } from "../../protocol/signed-json.js";
import type { PeopleStore } from "../../../store/types.js";
import { deviceUploadSchema, type AccountService } from "../account-service.js";
import type { AuthService } from "../auth.js";
import { readJson } from "../http.js";
import { putProfile } from "../profile-service.js";
import { admit, type RegistrationPolicy } from "../invites.js";

const registerSchema = deviceUploadSchema.extend({
  address: z.string().max(1024),
  invite: z.string().max(256).optional(),
});

const challengeSchema = z.strictObject({ address: z.string().max(1024), device: z.string().max(64) });
const tokenSchema = challengeSchema.extend({ challenge: z.string().max(64), signature: z.string().max(128) });
const profileSchema = z.strictObject({ body: z.string().max(64 * 1024), sig: signature64 });

export function pathAddress(value: unknown): PeopleAddress {
  return parseAddress(typeof value === "string" ? value : "");
}

export function accountRoutes(o: {
  accounts: AccountService;
  auth: AuthService;
  store: PeopleStore;
  registration: RegistrationPolicy;
  maxJson: number;
}): Router {
  const r = new Router({ prefix: "/_people/v1" });

  r.post("/accounts", async (ctx) => {
    const body = await readJson(ctx, registerSchema, o.maxJson);
    const address = parseAddress(body.address);
    const now = Date.now();
    const admission = await admit(o.registration, o.store.invites, body.invite, now);
    if (!admission) {
      throw new PeopleError("PEOPLE_FORBIDDEN", "registration is not open", {
        publicText: "Registration on this server needs a valid invite.",
      });
    }
    let result: "created" | "exists";
    try {
      result = await o.accounts.register(
        address,
        { device_list: body.device_list, chains: body.chains },
        now,
      );
    } catch (err) {
      await admission.giveBack();
      throw err;
    }
    if (result === "exists") {
      await admission.giveBack();
      throw new PeopleError("PEOPLE_FORBIDDEN", "address taken", { publicText: "That address is taken." });
    }
    ctx.status = 201;
    ctx.body = { address };
  });

  r.get("/accounts/:address/devices", async (ctx) => {
    const address = pathAddress(ctx.params.address);
    const account = await o.store.accounts.get(address);
    if (!account) throw new PeopleError("PEOPLE_UNKNOWN_RECIPIENT", "no such account");
    const devices = await o.store.accounts.devices(address);
    ctx.set("Cache-Control", "no-cache");
    ctx.body = {
      device_list: JSON.parse(account.deviceListJson) as unknown,
      chains: Object.fromEntries(
        devices
          .filter((d) => d.revokedAt === null)
          .map((d) => [d.device, JSON.parse(d.chainJson) as unknown]),
      ),
    };
  });

  // Authorized by the account key's signature on the new list itself, not by a token.
  r.put("/accounts/:address/devices", async (ctx) => {
    const address = pathAddress(ctx.params.address);
    const body = await readJson(ctx, deviceUploadSchema, o.maxJson);
    await o.accounts.updateDevices(address, body);
    ctx.body = {};
  });

  r.get("/accounts/:address/profile", async (ctx) => {
    const account = await o.store.accounts.get(pathAddress(ctx.params.address));
    if (!account?.profileJson) throw new PeopleError("PEOPLE_NOT_FOUND", "no profile");
    ctx.body = JSON.parse(account.profileJson) as unknown;
  });

  r.put("/accounts/:address/profile", async (ctx) => {
    const address = pathAddress(ctx.params.address);
    const body = await readJson(ctx, profileSchema, o.maxJson);
    await putProfile(o.store, address, body);
    ctx.body = {};
  });

  r.post("/auth/challenge", async (ctx) => {
    const body = await readJson(ctx, challengeSchema, 4096);
    ctx.body = await o.auth.issueChallenge(
      parseAddress(body.address),
      parseDeviceId(body.device),
      Date.now(),
    );
  });

  r.post("/auth/token", async (ctx) => {
    const body = await readJson(ctx, tokenSchema, 4096);
    ctx.body = await o.auth.issueToken(
      {
        address: parseAddress(body.address),
        device: parseDeviceId(body.device),
        challenge: body.challenge,
        signature: body.signature,
      },
      Date.now(),
    );
  });

  return r;
}
