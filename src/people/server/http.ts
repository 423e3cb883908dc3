// The HTTP edge: every failure becomes {"errcode","error"} with its status and
// nothing else (no stack, no detail of which check failed); bodies are read
// with hard limits and validated into typed values exactly once, here.
import type { Context, Next } from "koa";
import getRawBody from "raw-body";
import { z } from "zod";
import { PeopleError } from "../errors.js";
import type { Logger } from "./logger.js";
import type { ServerMetrics } from "./metrics.js";

export function errorMiddleware(log: Logger, metrics: ServerMetrics) {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
      // An error status the router set without a body (unknown path, wrong method) gets the JSON shape too.
      if (ctx.status >= 400 && (ctx.body === undefined || ctx.body === null)) throw bodilessError(ctx);
    } catch (err) {
      const e = toPeopleError(err);
      ctx.status = e.status;
      ctx.body = e.toJSON();
      if (e.code === "PEOPLE_RATE_LIMITED") ctx.set("Retry-After", "1");
      // The detail goes to the log at debug level (it may name the failing check); the cause of a 500 at error.
      if (e.status >= 500) log.error({ err: e.cause ?? e, route: ctx.path.slice(0, 100) }, "request failed");
      else
        log.debug(
          { errcode: e.code, detail: e.message.slice(0, 200), route: ctx.path.slice(0, 100) },
          "request refused",
        );
    } finally {
      metrics.httpRequests.inc({ route: routeLabel(ctx), status: String(ctx.status) });
    }
  };
}

function bodilessError(ctx: Context): PeopleError {
  const what = `${ctx.method} ${ctx.path.slice(0, 100)}`;
  switch (ctx.status) {
    case 404:
      return new PeopleError("PEOPLE_NOT_FOUND", `no route for ${what}`);
    case 405:
      // The router's Allow header stays: it says which methods the path has.
      return new PeopleError("PEOPLE_METHOD_NOT_ALLOWED", what);
    case 501:
      return new PeopleError("PEOPLE_NOT_IMPLEMENTED", what);
    default:
      return toPeopleError({ status: ctx.status });
  }
}

/**
 * A request Node could not parse never reaches koa: answered here with a JSON
 * 400 (or 413 for oversized headers) and the connection closed.
 */
export function clientErrorResponse(err: { code?: unknown }): Buffer {
  const e =
    err.code === "HPE_HEADER_OVERFLOW"
      ? new PeopleError("PEOPLE_TOO_LARGE", "headers too large")
      : new PeopleError("PEOPLE_BAD_REQUEST", "malformed HTTP");
  const body = JSON.stringify(e.toJSON());
  return Buffer.from(
    `HTTP/1.1 ${e.status} ${e.status === 413 ? "Content Too Large" : "Bad Request"}\r\n` +
      "Content-Type: application/json; charset=utf-8\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      "Connection: close\r\n\r\n" +
      body,
  );
}

function routeLabel(ctx: Context): string {
  const matched = (ctx as Context & { _matchedRoute?: unknown })._matchedRoute;
  return typeof matched === "string" ? matched : "unmatched";
}

export function toPeopleError(err: unknown): PeopleError {
  if (err instanceof PeopleError) return err;
  const e = err as { type?: string; status?: number; expose?: boolean };
  // raw-body and koa errors
  if (e?.type === "entity.too.large" || e?.status === 413)
    return new PeopleError("PEOPLE_TOO_LARGE", "body too large");
  if (e?.type === "request.aborted") return new PeopleError("PEOPLE_BAD_REQUEST", "request aborted");
  if (e?.type === "request.size.invalid") return new PeopleError("PEOPLE_BAD_REQUEST", "body size mismatch");
  if (typeof e?.status === "number" && e.status >= 400 && e.status < 500) {
    return new PeopleError("PEOPLE_BAD_REQUEST", "bad request", { cause: err });
  }
  return new PeopleError("PEOPLE_INTERNAL", "unexpected error", { cause: err });
}

export async function readRaw(ctx: Context, limit: number): Promise<Buffer> {
  const declared = ctx.request.length;
  if (declared !== undefined && declared > limit) throw new PeopleError("PEOPLE_TOO_LARGE", "body too large");
  return getRawBody(ctx.req, { limit, length: declared });
}

/** Read a JSON body and validate it with `schema`: the one place request JSON is trusted. */
export async function readJson<T>(ctx: Context, schema: z.ZodType<T>, limit: number): Promise<T> {
  if (!ctx.is("application/json"))
    throw new PeopleError("PEOPLE_BAD_JSON", "expected Content-Type application/json");
  const raw = await readRaw(ctx, limit);
  let json: unknown;
  try {
    json = JSON.parse(raw.toString("utf8"));
  } catch {
    throw new PeopleError("PEOPLE_BAD_JSON", "body is not JSON");
  }
  const result = schema.safeParse(json);
  if (!result.success) throw new PeopleError("PEOPLE_BAD_JSON", z.prettifyError(result.error).slice(0, 300));
  return result.data;
}

export function queryInt(value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !/^\d{1,15}$/.test(value)) {
    throw new PeopleError("PEOPLE_BAD_REQUEST", "query parameter is not a non-negative integer");
  }
  const n = Number(value);
  if (n < min || n > max) throw new PeopleError("PEOPLE_BAD_REQUEST", "query parameter out of range");
  return n;
}
