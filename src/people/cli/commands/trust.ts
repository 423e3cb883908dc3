// Whom you talk to: contacts, fingerprint (the safety number), verify.
import type { PeopleClient } from "../../client/people-client.js";
import { addressDomain, type PeopleAddress } from "../../protocol/address.js";
import { addressArg, type Context } from "../context.js";
import { isPeopleError } from "../../errors.js";
import { CliError, UsageError, about } from "../errors.js";
import { formatTime, iso } from "../output.js";
import { confirm, interactive } from "../prompt.js";

export interface VerifyOpts {
  yes?: boolean;
  number?: string;
  acceptChange?: boolean;
  acceptServerKey?: boolean;
}

/** The addresses this device has messages from or to, other than its own. */
async function knownAddresses(client: PeopleClient): Promise<PeopleAddress[]> {
  const seen = new Set<string>();
  for (const m of await client.inbox()) {
    seen.add(m.from);
    for (const to of m.to) seen.add(to);
  }
  seen.delete(client.address);
  return [...seen].sort() as PeopleAddress[];
}

export async function contacts(ctx: Context): Promise<void> {
  await ctx.withClient(async (client) => {
    const rows = [];
    for (const address of await knownAddresses(client)) {
      const c = await client.contacts.get(address);
      if (c) rows.push(c);
    }
    if (ctx.out.json) {
      ctx.out.data(
        rows.map((c) => ({
          address: c.address,
          state: c.state === "trusted" ? "trusted" : "key_changed",
          verified: c.verified,
          devices: c.devices.length,
          last_change: iso(c.lastChange),
        })),
      );
      return;
    }
    if (rows.length === 0) {
      ctx.out.line("No contacts yet.");
      return;
    }
    ctx.out.table(
      ["ADDRESS", "KEYS", "VERIFIED", "DEVICES", "KEYS SINCE"],
      rows.map((c) => [
        c.address,
        c.state === "trusted" ? "pinned" : "CHANGED (see people verify --help)",
        c.verified ? "yes" : "no",
        String(c.devices.length),
        formatTime(c.lastChange),
      ]),
    );
  });
}

export async function fingerprint(ctx: Context, input: string, opts: { pending?: boolean }): Promise<void> {
  const address = addressArg(input);
  await ctx.withClient(async (client) => {
    const number = await about(address, () =>
      client.fingerprint(address, opts.pending ? { pending: true } : {}).catch((e: unknown) => {
        if (opts.pending && isPeopleError(e, "PEOPLE_NOT_FOUND"))
          throw new CliError(address, "no change of their keys is waiting to be accepted");
        throw e;
      }),
    );
    const contact = await client.contacts.get(address);
    const state = contact?.state === "unexplained" ? "key_changed" : "trusted";
    if (ctx.out.json) {
      ctx.out.data({
        address,
        safety_number: number,
        ...(opts.pending ? { pending: true } : {}),
        verified: !opts.pending && (contact?.verified ?? false),
        state,
      });
      return;
    }
    ctx.out.line(
      `Safety number of ${client.address} and ${opts.pending ? `the changed keys of ${address}` : address}:`,
    );
    ctx.out.line();
    for (const line of rows(number)) ctx.out.line(`    ${line}`);
    ctx.out.line();
    if (opts.pending) {
      ctx.out.line(`If ${address} sees the same number, run: people verify ${address} --accept-change`);
    } else if (state === "key_changed") {
      ctx.out.line(`Their keys changed in a way their account did not sign; this is the number of the keys`);
      ctx.out.line(`pinned before. The new keys' number: people fingerprint ${address} --pending`);
    } else if (contact?.verified) {
      ctx.out.line(`${address} is verified.`);
    } else {
      ctx.out.line(`If ${address} sees the same number, run: people verify ${address}`);
    }
  });
}

/** 12 groups of 5 digits as 3 lines of 4. */
function rows(number: string): string[] {
  const groups = number.split(" ");
  const out: string[] = [];
  for (let i = 0; i < groups.length; i += 4) out.push(groups.slice(i, i + 4).join(" "));
  return out;
}

export async function verify(ctx: Context, input: string, opts: VerifyOpts): Promise<void> {
  const address = addressArg(input);
  const digits = opts.number?.replace(/\s+/g, "");
  if (digits !== undefined && !/^\d{60}$/.test(digits)) {
    throw new UsageError(opts.number, "--number expects the 60 digits of the safety number");
  }
  if (digits === undefined && !opts.yes && !interactive(ctx.io)) {
    throw new UsageError(address, "not on a terminal: confirm with --number <digits> or --yes");
  }
  await ctx.withClient(async (client) => {
    const stopEvents = ctx.reportEvents(client);
    const domain = addressDomain(address);
    try {
      if (opts.acceptServerKey) {
        await about(domain, () => client.acceptServerKey(domain));
        ctx.out.note(`The identity key the server for ${domain} has now is trusted from here on.`);
      }
      const resolution = await about(address, () => client.contacts.resolve(address));
      const changed = resolution.status === "unexplained" || resolution.contact.state === "unexplained";
      if (changed && !opts.acceptChange) {
        throw new CliError(
          address,
          "their keys changed in a way their account did not sign. If they told you they reinstalled or " +
            `lost their devices, compare the new safety number with them: \`people verify ${address} --accept-change\`.`,
        );
      }
      // With a change waiting, the number compared is that of the new keys, before they are accepted.
      const number = await about(address, () => client.fingerprint(address, { pending: changed }));
      if (digits !== undefined) {
        if (digits !== number.replace(/ /g, "")) {
          throw new CliError(address, "the safety number you gave does not match: NOT verified");
        }
      } else if (!opts.yes) {
        ctx.out.note(
          `Safety number of ${client.address} and ${changed ? `the new keys of ${address}` : address}:\n`,
        );
        for (const line of rows(number)) ctx.out.note(`    ${line}`);
        ctx.out.note("");
        if (!(await confirm(ctx.io, `Does ${address} see exactly this number? [y/N] `))) {
          throw new CliError(
            address,
            changed ? "NOT verified; the new keys are not accepted" : "NOT verified",
          );
        }
      }
      if (changed) {
        await about(address, () => client.acceptKeyChange(address));
        // The list is fetched again to accept it: make sure it is still the one whose number was compared.
        if ((await client.fingerprint(address)) !== number) {
          throw new CliError(
            address,
            "their keys changed again meanwhile: accepted, but NOT verified; compare again",
          );
        }
        ctx.out.note(`Accepted the new keys of ${address}.`);
      }
      await about(address, () => client.contacts.verify(address));
      if (ctx.out.json) {
        ctx.out.data({ address, verified: true, safety_number: number, accepted_change: changed });
      } else {
        ctx.out.line(`${address} is verified.`);
      }
    } finally {
      stopEvents();
    }
  });
}
