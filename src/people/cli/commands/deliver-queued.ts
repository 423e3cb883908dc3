// What a command that queued mail (group keys, post notices) reports: what is
// still waiting, and the members nothing could be sealed to.
import type { PeopleClient } from "../../client/people-client.js";
import type { ErrorCode } from "../../errors.js";
import type { Context } from "../context.js";
import { CliError, codeText } from "../errors.js";

/** Members the group key could not be sealed to: reported, and the command fails after its output. */
export function undeliveredError(
  ctx: Context,
  undelivered: { address: string; code: ErrorCode }[],
  what: string,
) {
  if (undelivered.length === 0) return;
  for (const u of undelivered.slice(1)) ctx.out.warn(u.address, `${what}: ${codeText(u.code)}`);
  const first = undelivered[0]!;
  throw new CliError(first.address, `${what}: ${codeText(first.code)}`);
}

/** Send what the command queued (group keys, notices); say so if some has to wait. */
export async function deliverQueued(ctx: Context, client: PeopleClient, timeoutMs = 10_000): Promise<number> {
  const left = await ctx.deliver(client, timeoutMs);
  if (left > 0) {
    ctx.out.note(
      `${left} message cop${left === 1 ? "y" : "ies"} could not be delivered yet; they are tried again whenever \`people\` runs.`,
    );
  }
  return left;
}
