// The account and its devices: init, link, link-code, devices, rotate.
import { PeopleClient } from "../../client/people-client.js";
import { parseLinkCode } from "../../client/link-code.js";
import { sendHistory } from "../../client/history-transfer.js";
import { DEFAULT_ROTATION_MS } from "../../protocol/device-identity.js";
import { isPeopleError } from "../../errors.js";
import { addressArg, type Context } from "../context.js";
import { CliError, UsageError, about } from "../errors.js";
import { formatTime, iso } from "../output.js";
import { parseDuration } from "../parse.js";
import { untilSignal } from "../signals.js";

const LINK_DELIVERY_MS = 30_000;

export async function init(ctx: Context, input: string, opts: { invite?: string }): Promise<void> {
  const address = addressArg(input);
  const client = await ctx.creating(address, (o) =>
    PeopleClient.create({ ...o, address, ...(opts.invite ? { invite: opts.invite } : {}) }),
  );
  try {
    if (ctx.out.json) {
      ctx.out.data({ address: client.address, device: client.device, data: ctx.dataDir });
    } else {
      ctx.out.line(`Created ${client.address}; this computer is its device ${client.device}.`);
      ctx.out.line(`Its keys are in ${ctx.dataDir}, encrypted with your passphrase or key file:`);
      ctx.out.line(`without it, nobody (you included) can read them. Keep it safe.`);
    }
  } finally {
    await client.close();
  }
}

export async function link(
  ctx: Context,
  input: string,
  opts: { code: string; timeout: string },
): Promise<void> {
  const address = addressArg(input);
  const timeoutMs = parseDuration(opts.timeout, "--timeout");
  try {
    parseLinkCode(opts.code);
  } catch {
    throw new UsageError(
      "--code",
      "that is not a valid link code (26 letters and digits, as link-code shows)",
    );
  }
  const progress = ctx.out.progress(`waiting for a device of ${address} to let this one in`);
  let client: PeopleClient;
  try {
    client = await ctx.creating(address, (o) =>
      PeopleClient.link({ ...o, address, code: opts.code, linkTimeoutMs: timeoutMs }),
    );
  } catch (e) {
    progress.fail();
    throw e;
  }
  progress.done(`let in by a device of ${address}`);
  try {
    if (ctx.out.json) ctx.out.data({ address: client.address, device: client.device, data: ctx.dataDir });
    else ctx.out.line(`This computer is now device ${client.device} of ${client.address}.`);
  } finally {
    await client.close();
  }
}

export async function linkCode(ctx: Context, opts: { ttl: string; withHistory?: boolean }): Promise<void> {
  const ttlMs = parseDuration(opts.ttl, "--ttl");
  if (ttlMs < 10_000 || ttlMs > 60 * 60_000)
    throw new UsageError(opts.ttl, "--ttl must be between 10s and 1h");
  await ctx.withClient(async (client) => {
    const stopEvents = ctx.reportEvents(client);
    const signal = untilSignal();
    try {
      await ctx.connect(client);
      const offer = client.createLinkCode(ttlMs);
      if (ctx.out.json) {
        ctx.out.data({ code: offer.code, expires_at: iso(offer.expiresAt) });
      } else {
        ctx.out.line(`On the new device, run:`);
        ctx.out.line();
        ctx.out.line(`    people link ${client.address} --code ${offer.code}`);
        ctx.out.line();
        ctx.out.line(
          `The code works once, until ${formatTime(offer.expiresAt)}. Waiting for the new device (Ctrl-C to stop)…`,
        );
      }
      let expiry: NodeJS.Timeout | undefined;
      const expired = new Promise<never>((_, reject) => {
        // The new device's request may be in flight at the last moment: a little grace past the expiry.
        expiry = setTimeout(
          () => reject(new CliError(client.address, "the code expired before a new device used it")),
          offer.expiresAt - Date.now() + 5000,
        );
      });
      const cancelled = signal.promise.then(() => {
        throw new CliError(undefined, "cancelled; the code no longer works", 130);
      });
      cancelled.catch(() => undefined); // a signal after the race is over changes nothing
      let device: string;
      try {
        device = await Promise.race([offer.completed, expired, cancelled]);
      } catch (e) {
        if (isPeopleError(e))
          throw new CliError(client.address, `linking failed: ${e.publicText}`, 1, { cause: e });
        throw e;
      } finally {
        clearTimeout(expiry);
      }
      // Consent given with --with-history: the archive goes out with the grant, before exiting.
      const handed = opts.withHistory
        ? await about(client.address, () => sendHistory(client, device))
        : undefined;
      // The new device waits for the account key, sealed to it in the outbox: send it before exiting.
      const left = await ctx.deliver(client, LINK_DELIVERY_MS);
      if (left > 0) {
        throw new CliError(
          client.address,
          `device ${device} is listed, but its keys could not be sent yet; run \`people link-code\` or \`people watch\` again to send them`,
        );
      }
      if (ctx.out.json)
        ctx.out.data({
          device,
          address: client.address,
          ...(handed !== undefined ? { history: handed } : {}),
        });
      else ctx.out.line(`Device ${device} joined ${client.address}.`);
      if (handed !== undefined && !ctx.out.json) ctx.out.line(`Handed it ${handed} message(s) of history.`);
    } finally {
      signal.dispose();
      stopEvents();
    }
  });
}

export async function listDevices(ctx: Context): Promise<void> {
  await ctx.withClient(async (client) => {
    const devices = await about(client.address, () => client.devices());
    if (ctx.out.json) {
      ctx.out.data(
        devices.map((d) => ({
          device: d.device,
          self: d.self,
          revoked: d.revokedAt !== null,
          ...(d.revokedAt !== null
            ? { revoked_at: iso(d.revokedAt) }
            : { key_generation: d.seq, keys_since: iso(d.notBefore), valid_until: iso(d.notAfter) }),
        })),
      );
      return;
    }
    ctx.out.line(`Devices of ${client.address}:`);
    ctx.out.table(
      ["DEVICE", "", "KEYS", "VALID UNTIL", "STATUS"],
      devices.map((d) => [
        d.device,
        d.self ? "(this one)" : "",
        d.revokedAt === null ? `#${d.seq} since ${formatTime(d.notBefore)}` : "",
        d.revokedAt === null ? formatTime(d.notAfter) : "",
        d.revokedAt === null ? "active" : `revoked ${formatTime(d.revokedAt)}`,
      ]),
    );
  });
}

export async function revoke(ctx: Context, device: string): Promise<void> {
  await ctx.withClient(async (client) => {
    const devices = await about(client.address, () => client.devices());
    const target = devices.find((d) => d.device === device);
    if (!target) throw new CliError(device, `no such device of ${client.address} (see \`people devices\`)`);
    if (target.revokedAt !== null) throw new CliError(device, "already revoked");
    if (target.self) throw new CliError(device, "this is the device you are on; revoke it from another one");
    await about(device, () => client.revokeDevice(device));
    if (ctx.out.json) ctx.out.data({ revoked: device, address: client.address });
    else
      ctx.out.line(
        `Revoked device ${device}: your contacts no longer encrypt to it or accept what it signs from now on.`,
      );
  });
}

export async function rotate(ctx: Context, opts: { force?: boolean }): Promise<void> {
  await ctx.withClient(async (client) => {
    const result = await about(client.address, () =>
      client.rotateIfDue(Date.now(), opts.force ? { rotationMs: 0 } : undefined),
    );
    const self = (await about(client.address, () => client.devices())).find((d) => d.self);
    const next = self ? self.notBefore + DEFAULT_ROTATION_MS : undefined;
    if (ctx.out.json) {
      ctx.out.data({
        device: client.device,
        rotated: result.rotated,
        erased: result.erased,
        ...(self ? { key_generation: self.seq } : {}),
        ...(next !== undefined ? { next_rotation: iso(next) } : {}),
      });
      return;
    }
    ctx.out.line(
      result.rotated
        ? `Renewed the keys of device ${client.device}${self ? ` (key generation #${self.seq})` : ""}.`
        : `The keys of device ${client.device} are fresh${next !== undefined ? `; next renewal due ${formatTime(next)}` : ""} (--force renews them now).`,
    );
    if (result.erased > 0) ctx.out.line(`Erased ${result.erased} retired key(s) past their grace period.`);
  });
}
