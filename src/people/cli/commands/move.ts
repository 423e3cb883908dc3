// `people move <new address>`: this account moves to another server under the
// same account key (PROTOCOL §20); contacts follow without a warning.
import { addressArg, type Context } from "../context.js";

export async function move(ctx: Context, input: string, opts: { invite?: string }): Promise<void> {
  const to = addressArg(input);
  await ctx.withClient(async (client) => {
    const stopEvents = ctx.reportEvents(client);
    try {
      // Connected first: what is pending arrives, and the notices go out at once.
      await ctx.connect(client);
      const r = await client.move(to, opts.invite ? { invite: opts.invite } : {});
      await ctx.flushQueued(client);
      if (ctx.out.json) ctx.out.data({ from: r.from, to: r.to, notified: r.notified, drained: r.drained });
      else {
        ctx.out.line(`Moved ${r.from} to ${r.to}; ${r.notified} contact(s) told, with your account key.`);
        ctx.out.line(`The old server refuses new mail for ${r.from} and points senders to ${r.to}.`);
      }
    } finally {
      stopEvents();
    }
  });
}
