// The bridge bot: takes management rooms (a DM with the bot) from permitted
// users and answers commands there as m.notice. Unpermitted users are refused
// politely; everything else is ignored.
import type { CommandRegistry } from "./commands.js";
import { parseCommand } from "./commands.js";
import type { Logger } from "./ports/logger.js";
import type { MatrixSide, RoomEvent } from "./ports/matrix-side.js";
import type { BridgeMetrics } from "./ports/metrics.js";
import { notice } from "./notice.js";
import type { Permissions } from "./permissions.js";
import type { ManagementRoomStore } from "./ports/store.js";
import { isUserError, isRetryLater } from "./error-kinds.js";

export const REFUSAL =
  "Sorry, you are not allowed to use this People bridge. " +
  "If you think you should be, ask the homeserver's admin to add you to bridge.permissions.";

export const ENCRYPTED_HINT =
  "I cannot read encrypted messages: encryption is turned off on this bridge. " +
  "The bridge's admin can turn it on (`encryption.allow: true` in its config.yaml, with the " +
  "homeserver settings its README lists). Until then, talk to me in a room without encryption " +
  "(Element X encrypts every direct chat; Element Web lets you start one without).";

export interface BotOptions {
  matrix: MatrixSide;
  rooms: ManagementRoomStore;
  permissions: Permissions;
  commands: CommandRegistry;
  welcome: string;
  log: Logger;
  metrics: BridgeMetrics;
  now?: () => number;
}

/** Drops the quoted fallback of a rich reply ("> <@bot:hs> ..." lines and the blank line after). */
export function stripReplyFallback(body: string): string {
  const lines = body.split("\n");
  let i = 0;
  while (i < lines.length && lines[i]!.startsWith(">")) i++;
  if (i > 0 && lines[i] === "") i++;
  return lines.slice(i).join("\n");
}

export class ManagementBot {
  private readonly now: () => number;

  constructor(private readonly o: BotOptions) {
    this.now = o.now ?? Date.now;
  }

  async handle(event: RoomEvent): Promise<void> {
    if (event.sender === this.o.matrix.botUserId) return;
    if (event.type === "m.room.member") return this.onMember(event);
    if (event.type === "m.room.message") return this.onMessage(event);
    if (event.type === "m.room.encrypted") return this.onEncrypted(event);
  }

  private async onMember(event: RoomEvent): Promise<void> {
    const membership = event.content.membership;
    const bot = this.o.matrix.botUserId;
    if (event.stateKey === bot && membership === "invite") return this.onInvite(event);
    if (event.stateKey === bot && (membership === "leave" || membership === "ban")) {
      for (const owner of await this.o.rooms.ownersOf(event.roomId))
        await this.o.rooms.remove(owner, event.roomId);
      return;
    }
    // The owner left their management room: forget it, and leave too.
    if (event.stateKey !== undefined && (membership === "leave" || membership === "ban")) {
      const owners = await this.o.rooms.ownersOf(event.roomId);
      if (!owners.includes(event.stateKey)) return;
      await this.o.rooms.remove(event.stateKey, event.roomId);
      if (owners.length === 1) await this.o.matrix.leaveRoom(event.roomId);
    }
  }

  private async onInvite(event: RoomEvent): Promise<void> {
    const access = this.o.permissions.levelOf(event.sender);
    if (access === "none") {
      this.o.log.info(
        { user: event.sender, room: event.roomId },
        "declined an invite from an unpermitted user",
      );
      await this.o.matrix.leaveRoom(event.roomId, REFUSAL);
      return;
    }
    // Recorded before joining: a crash in between leaves a record for a room we
    // are invited to, which the redelivered invite completes.
    await this.o.rooms.put({ userId: event.sender, roomId: event.roomId, createdAt: this.now() });
    await this.o.matrix.joinRoom(event.roomId);
    await this.o.matrix.sendNotice(event.roomId, notice(this.o.welcome), {
      txnKey: `welcome.${event.eventId}`,
    });
    this.o.log.info({ user: event.sender, room: event.roomId, access }, "management room opened");
  }

  /** The bot has no encryption keys yet: say so rather than stay silent. */
  private async onEncrypted(event: RoomEvent): Promise<void> {
    if ((await this.o.rooms.ownersOf(event.roomId)).length === 0) return;
    await this.o.matrix.sendNotice(event.roomId, notice(ENCRYPTED_HINT), {
      txnKey: `reply.${event.eventId}`,
      inReplyTo: event.eventId,
    });
  }

  private async onMessage(event: RoomEvent): Promise<void> {
    const { msgtype, body } = event.content;
    if (msgtype !== "m.text" || typeof body !== "string") return;
    const relation = event.content["m.relates_to"] as { rel_type?: unknown } | undefined;
    if (relation?.rel_type === "m.replace") return; // edits are not new commands
    const owners = await this.o.rooms.ownersOf(event.roomId);
    if (owners.length === 0) {
      // Portal rooms land here too: not worth more than a debug line.
      this.o.log.debug({ room: event.roomId }, "not a management room: message left to the portals");
      return;
    }
    const reply = (text: string) =>
      this.o.matrix.sendNotice(event.roomId, notice(text), {
        txnKey: `reply.${event.eventId}`,
        inReplyTo: event.eventId,
      });

    const access = this.o.permissions.levelOf(event.sender);
    if (access === "none") {
      this.o.metrics.commands.inc({ command: "-", outcome: "refused" });
      return reply(REFUSAL);
    }
    const parsed = parseCommand(stripReplyFallback(body));
    if (!parsed) return;
    const command = this.o.commands.get(parsed.name);
    if (!command) {
      this.o.metrics.commands.inc({ command: "-", outcome: "unknown" });
      return reply(`Unknown command \`${parsed.name}\`. Send \`help\` for the list of commands.`);
    }
    if (command.level === "admin" && access !== "admin") {
      this.o.metrics.commands.inc({ command: command.name, outcome: "refused" });
      return reply(`\`${command.name}\` is for the bridge's admins only.`);
    }
    let answer;
    try {
      answer = await command.run({
        sender: event.sender,
        roomId: event.roomId,
        eventId: event.eventId,
        access,
        args: parsed.args,
      });
    } catch (err) {
      // Asked to come back later: the homeserver resends the transaction, the command runs again.
      if (isRetryLater(err)) throw err;
      this.o.metrics.commands.inc({ command: command.name, outcome: "error" });
      if (isUserError(err)) {
        this.o.log.info({ command: command.name, detail: err.message }, "command failed");
        return reply(err.userText);
      }
      this.o.log.error({ err, command: command.name }, "command crashed");
      return reply(`Something went wrong running \`${command.name}\`; the bridge's log has the details.`);
    }
    this.o.metrics.commands.inc({ command: command.name, outcome: "ok" });
    await this.o.matrix.sendNotice(event.roomId, answer, {
      txnKey: `reply.${event.eventId}`,
      inReplyTo: event.eventId,
    });
  }
}
