// Groups: group create, list, show, add, remove.
// A group is owned by the account that made it; its members' devices learn it
// (by id; the name stays with the owner) from the key the owner sends them, so
// the commands that read groups fetch new mail first.
import type { GroupInfo, PeopleClient } from "../../client/people-client.js";
import { addressArg, type Context } from "../context.js";
import { CliError, UsageError, about } from "../errors.js";
import { oneLine } from "../output.js";
import { deliverQueued, undeliveredError } from "./deliver-queued.js";

/** A group by id, a unique beginning of its id, or its name (known on the owner's devices). */
export async function findGroup(client: PeopleClient, ref: string): Promise<GroupInfo> {
  const groups = await client.groups.list();
  const exact = groups.find((g) => g.id === ref);
  if (exact) return exact;
  const byPrefix = ref.length >= 4 ? groups.filter((g) => g.id.startsWith(ref)) : [];
  const byName = groups.filter((g) => g.name === ref);
  const matches = [...new Set([...byPrefix, ...byName])];
  if (matches.length > 1) throw new UsageError(ref, "matches several groups; give its id");
  if (matches.length === 0) throw new CliError(ref, "no such group on this device (see `people group list`)");
  return matches[0]!;
}

function groupJson(g: GroupInfo) {
  return {
    id: g.id,
    name: g.name,
    owner: g.owner,
    is_owner: g.isOwner,
    epoch: g.epoch,
    members: g.members,
  };
}

export function groupLabel(g: { id: string; name: string | null }): string {
  return g.name !== null ? `"${oneLine(g.name)}" (${g.id})` : g.id;
}

export async function groupCreate(ctx: Context, name: string, memberArgs: string[]): Promise<void> {
  if (name.trim() === "" || name.length > 256)
    throw new UsageError(name, "a group name is 1 to 256 characters");
  const members = [...new Set(memberArgs.map(addressArg))];
  await ctx.withClient(async (client) => {
    const stopEvents = ctx.reportEvents(client);
    try {
      for (const address of members) await about(address, () => client.contacts.resolve(address));
      const g = await about(name, () => client.groups.createGroup(name, members));
      const left = await deliverQueued(ctx, client);
      if (ctx.out.json) {
        ctx.out.data({ ...groupJson(g), undelivered: g.undelivered, queued: left });
      } else {
        ctx.out.line(`Created group ${groupLabel(g)} with ${g.members.join(", ")}.`);
        ctx.out.line(`Post to it: people post --group ${g.id} "…"`);
      }
      undeliveredError(ctx, g.undelivered, "did not get the group key");
    } finally {
      stopEvents();
    }
  });
}

export async function groupList(ctx: Context, opts: { offline?: boolean }): Promise<void> {
  await ctx.withClient(async (client) => {
    const stopEvents = ctx.reportEvents(client);
    try {
      if (!opts.offline) await ctx.connect(client);
      const groups = await client.groups.list();
      if (ctx.out.json) {
        ctx.out.data(groups.map(groupJson));
      } else if (groups.length === 0) {
        ctx.out.line("No groups. Make one with: people group create <name> [member…]");
      } else {
        ctx.out.table(
          ["ID", "NAME", "OWNER", "MEMBERS", "EPOCH"],
          groups.map((g) => [
            g.id,
            g.name !== null ? oneLine(g.name) : "-",
            g.isOwner ? `${g.owner} (you)` : g.owner,
            String(g.members.length),
            String(g.epoch),
          ]),
          { shrink: 1 },
        );
      }
    } finally {
      stopEvents();
    }
  });
}

export async function groupShow(ctx: Context, ref: string, opts: { offline?: boolean }): Promise<void> {
  await ctx.withClient(async (client) => {
    const stopEvents = ctx.reportEvents(client);
    try {
      if (!opts.offline) await ctx.connect(client);
      const g = await findGroup(client, ref);
      if (ctx.out.json) {
        ctx.out.data(groupJson(g));
        return;
      }
      ctx.out.line(`Group ${groupLabel(g)}, owned by ${g.isOwner ? "you" : g.owner}, key epoch ${g.epoch}.`);
      ctx.out.line(`Members:`);
      for (const m of g.members) ctx.out.line(`  ${m}${m === g.owner ? " (owner)" : ""}`);
    } finally {
      stopEvents();
    }
  });
}

export async function groupAdd(
  ctx: Context,
  ref: string,
  input: string,
  opts: { rotate?: boolean },
): Promise<void> {
  const address = addressArg(input);
  await ctx.withClient(async (client) => {
    const stopEvents = ctx.reportEvents(client);
    try {
      const g = await findGroup(client, ref);
      if (!g.isOwner) throw new CliError(ref, `only its owner ${g.owner} changes the members`);
      await about(address, () => client.contacts.resolve(address));
      const update = await about(address, () =>
        client.groups.addMember(g.id, address, opts.rotate === false ? { rotate: false } : {}),
      );
      const left = await deliverQueued(ctx, client);
      if (ctx.out.json) {
        ctx.out.data({ ...groupJson(update), undelivered: update.undelivered, queued: left });
      } else {
        ctx.out.line(
          `Added ${address} to ${groupLabel(update)}` +
            (opts.rotate === false
              ? `; they can read what was posted in key epoch ${update.epoch}.`
              : `; new key epoch ${update.epoch}, so they cannot read earlier posts.`),
        );
      }
      undeliveredError(ctx, update.undelivered, "did not get the new group key");
    } finally {
      stopEvents();
    }
  });
}

export async function groupRemove(ctx: Context, ref: string, input: string): Promise<void> {
  const address = addressArg(input);
  await ctx.withClient(async (client) => {
    const stopEvents = ctx.reportEvents(client);
    try {
      const g = await findGroup(client, ref);
      if (!g.isOwner) throw new CliError(ref, `only its owner ${g.owner} changes the members`);
      const update = await about(address, () => client.groups.removeMember(g.id, address));
      const left = await deliverQueued(ctx, client);
      if (ctx.out.json) {
        ctx.out.data({ ...groupJson(update), undelivered: update.undelivered, queued: left });
      } else {
        ctx.out.line(
          `Removed ${address} from ${groupLabel(update)}; new key epoch ${update.epoch}, which they do not get.`,
        );
      }
      undeliveredError(ctx, update.undelivered, "did not get the new group key");
    } finally {
      stopEvents();
    }
  });
}
