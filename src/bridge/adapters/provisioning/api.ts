// The provisioning API (mautrix's /v3 shape) on the appservice's listener,
// under provisioning.prefix: the shared secret as a bearer token (compared in
// constant time), the acting Matrix user in `user_id` (checked against
// bridge.permissions), JSON in and out, every refusal {errcode, error}.
// Endpoints other branches bring (login, logout, follow) answer 501 until a
// hook is given. README, "Provisioning API", lists them.
import type { IncomingMessage, ServerResponse } from "node:http";
import Router from "@koa/router";
import Koa, { type Context, type Next } from "koa";
import getRawBody from "raw-body";
import type { PeopleAddress } from "../../../people/protocol/address.js";
import type { Logger } from "../../logger.js";
import type { MatrixUserId } from "../../model/matrix-ids.js";
import type { Permissions } from "../../core/permissions.js";
import type { ProvisioningBackend } from "./backend.js";
import { isBridgeError } from "../../core/error-kinds.js";
import { answerFor, provisioningError } from "./errors.js";
import {
  MAX_BODY_BYTES,
  parseAddressParam,
  parseGroupRequest,
  parseJsonText,
  parseUserId,
} from "./schemas.js";
import type { ProvisioningSecret } from "./secret.js";

type Json = Record<string, unknown>;

/** An endpoint another part of the bridge answers (issue 13's logins, issue 10's follows). */
export type ProvisioningHook = (request: {
  user: MatrixUserId;
  params: Record<string, string>;
  body: unknown;
}) => Promise<Json>;

export const HOOKS = {
  loginFlows: "GET /v3/login/flows",
  loginStart: "POST /v3/login/start/:flow",
  logout: "POST /v3/logout/:login",
  follow: "POST /v3/follow/:identifier",
  unfollow: "POST /v3/unfollow/:identifier",
} as const;

export type HookName = keyof typeof HOOKS;

export interface ProvisioningApiOptions {
  prefix: string;
  secret: ProvisioningSecret;
  permissions: Permissions;
  backend: ProvisioningBackend;
  log: Logger;
  hooks?: Partial<Record<HookName, ProvisioningHook>>;
}

interface State {
  user: MatrixUserId;
}

/** A node request handler for every path under the prefix. */
export function provisioningHandler(
  o: ProvisioningApiOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const app = new Koa<State>({ proxy: false });
  app.use(errors(o.log));
  app.use(cors);
  app.use(authenticate(o));
  const router = new Router<State>({ prefix: `${o.prefix}/v3` });
  const user = (ctx: Context & { state: State }) => ctx.state.user;

  router.get("/whoami", async (ctx) => {
    ctx.body = await o.backend.whoami(user(ctx));
  });
  router.get("/contacts", async (ctx) => {
    ctx.body = await o.backend.contacts(user(ctx));
  });
  router.get("/resolve_identifier/:identifier", async (ctx) => {
    ctx.body = await o.backend.resolve(user(ctx), address(ctx.params.identifier));
  });
  router.post("/create_dm/:identifier", async (ctx) => {
    ctx.body = await o.backend.createDm(user(ctx), address(ctx.params.identifier));
  });
  router.post("/create_group", async (ctx) => {
    const request = parseGroupRequest(await readJson(ctx));
    ctx.body = await o.backend.createGroup(user(ctx), request);
  });
  for (const [name, route] of Object.entries(HOOKS) as [HookName, string][]) {
    const [method, path] = route.split(" ") as ["GET" | "POST", string];
    const handle = async (ctx: Context & { state: State }) => {
      const hook = o.hooks?.[name];
      if (!hook) throw provisioningError("PEOPLE.NOT_YET", `${route} is not available on this bridge yet`);
      const body = method === "POST" && ctx.request.length ? await readJson(ctx) : undefined;
      ctx.body = await hook({ user: user(ctx), params: { ...ctx.params }, body });
    };
    if (method === "GET") router.get(path.replace(/^\/v3/, ""), handle);
    else router.post(path.replace(/^\/v3/, ""), handle);
  }
  app.use(router.routes());
  // A known path with another method: 405 (allowedMethods looks after the fallback's 404).
  app.use(router.allowedMethods({ throw: true }));
  app.use((ctx) => {
    ctx.status = 404;
  });
  const callback = app.callback();
  return (req, res) => void callback(req, res);
}

function address(raw: string | undefined): PeopleAddress {
  return parseAddressParam(raw ?? "");
}

function errors(log: Logger) {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw provisioningError("M_UNRECOGNIZED", "no such provisioning endpoint");
      }
    } catch (err) {
      // koa-router's 405 (a known path, another method).
      const e = err as { status?: unknown };
      const answer =
        !isBridgeError(err) && (e?.status === 405 || e?.status === 501)
          ? {
              status: 405,
              body: { errcode: "M_UNRECOGNIZED", error: "method not allowed" },
              unexpected: false,
            }
          : answerFor(err);
      ctx.status = answer.status;
      ctx.body = answer.body;
      if (answer.unexpected) log.error({ err, route: routeOf(ctx) }, "provisioning request failed");
      else log.debug({ errcode: answer.body.errcode, route: routeOf(ctx) }, "provisioning request refused");
    }
  };
}

function routeOf(ctx: Context): string {
  const matched = (ctx as Context & { _matchedRoute?: unknown })._matchedRoute;
  return typeof matched === "string" ? matched : "unmatched";
}

/** Integration managers call from browsers: any origin, with the bearer token (no cookies). */
async function cors(ctx: Context, next: Next): Promise<void> {
  ctx.set("Access-Control-Allow-Origin", "*");
  ctx.set("Access-Control-Allow-Headers", "Authorization, Content-Type");
  ctx.set("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
  if (ctx.method === "OPTIONS") {
    ctx.status = 204;
    return;
  }
  await next();
}

const BEARER = /^Bearer ([\x21-\x7e]{1,1024})$/;

function authenticate(o: ProvisioningApiOptions) {
  return async (ctx: Context & { state: State }, next: Next): Promise<void> => {
    const header = ctx.get("authorization");
    if (!header)
      throw provisioningError("M_MISSING_TOKEN", "missing the provisioning secret (Authorization: Bearer …)");
    const token = BEARER.exec(header)?.[1];
    if (token === undefined || !o.secret.matches(token)) {
      throw provisioningError("M_UNKNOWN_TOKEN", "wrong provisioning secret");
    }
    const user = parseUserId(ctx.query.user_id);
    if (o.permissions.levelOf(user) === "none") {
      throw provisioningError("M_FORBIDDEN", `${user} may not use this bridge (bridge.permissions)`);
    }
    ctx.state.user = user;
    await next();
  };
}

async function readJson(ctx: Context): Promise<unknown> {
  if (!ctx.is("application/json"))
    throw provisioningError("M_NOT_JSON", "expected Content-Type application/json");
  const declared = ctx.request.length;
  if (declared !== undefined && declared > MAX_BODY_BYTES) {
    throw provisioningError("M_TOO_LARGE", "the body is too large");
  }
  const raw = await getRawBody(ctx.req, { limit: MAX_BODY_BYTES, length: declared, encoding: "utf8" });
  return parseJsonText(raw);
}
