// Relay mode in group rooms (bridge.relay, as in mautrix): a member of a group
// room who has no People address (a user of another homeserver, one whose
// username cannot be an address, or one permitted only as "relay") is not a
// participant of its People conversation. When a participant has made their
// People account the room's relay (`!people set-relay` in the room), such a
// member's messages go out from the relay's account, written as the config's
// format says ("Carol: hello"; media with a caption naming them); without a
// relay they are answered with a notice saying what is missing. Reactions,
// edits and redactions are never relayed: they would act on the relay's own
// messages under its name.
//
// The relay is stored per room (room_relays, migration 013) before the answer
// says so. It speaks only while its user is a participant of the room.
import type { Command } from "../core/commands.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide, RoomEvent } from "../core/ports/matrix-side.js";
import type { MatrixUserId } from "../model/matrix-ids.js";
import { parsePortalCommand, type PortalCommand } from "../model/portal-command.js";
import { relayedContent, relaySenderName, type RelayConfig } from "../model/relay-format.js";
import { notice, noticeReplyContent } from "../core/notice.js";
import type { PeopleSide } from "../core/ports/people-side.js";
import type { Permissions } from "../core/permissions.js";
import type { FeatureRegistry } from "../core/router.js";
import type { GroupPortal, RoomRelayStore } from "../core/ports/store.js";
import { REFUSAL } from "../core/bot.js";
import type { GroupMembership } from "./group-membership.js";
import type { GroupService } from "./group-service.js";
import type { MatrixToPeopleFlow } from "./matrix-to-people-flow.js";
import { roomPowerOf } from "./room-power.js";

export const RELAY_OFF_TEXT =
  "Not delivered: you have no People address on this bridge, and it does not relay the messages of members without one.";
export const NO_RELAY_TEXT =
  "Not delivered: you have no People address on this bridge, and this room has no relay. " +
  "A room admin with a People address can send your messages through their account with `!people set-relay`.";
export const RELAY_ONLY_TEXT =
  "Not delivered: the room's relay sends only the messages (text and media) of members without a People " +
  "address, not their reactions, edits or redactions.";

export const PORTAL_HELP = [
  "`!people set-relay`: send the messages of members without a People address through your People account",
  "`!people unset-relay`: stop relaying them",
  "`!people relay`: who relays in this room",
];

export interface RoomRelaysOptions {
  config: RelayConfig;
  relays: RoomRelayStore;
  groups: GroupService;
  membership: GroupMembership;
  toPeople: MatrixToPeopleFlow;
  ghosts: GhostSide;
  people: Pick<PeopleSide, "addressFor">;
  permissions: Permissions;
  registry: FeatureRegistry;
  log: Logger;
  now?: () => number;
}

export class RoomRelays {
  constructor(private readonly o: RoomRelaysOptions) {}

  /** A `!people …` command in a group room: answered here and never bridged. False for any other event. */
  async command(event: RoomEvent, group: GroupPortal): Promise<boolean> {
    if (event.type !== "m.room.message" || event.content.msgtype !== "m.text") return false;
    if (typeof event.content.body !== "string" || this.o.ghosts.addressOf(event.sender)) return false;
    const command = parsePortalCommand(event.content.body);
    if (!command) return false;
    const text = await this.run(command, event, group);
    await this.answer(event, group, text);
    this.o.log.info({ room: group.roomId, command: command.name }, "portal command");
    return true;
  }

  /** An event of someone in a group room who is not one of its participants. */
  async nonParticipant(event: RoomEvent, group: GroupPortal): Promise<void> {
    if (this.o.ghosts.addressOf(event.sender)) return;
    // A bridged user left out of the conversation (by a People reply, or never in it).
    if (this.hasAddress(event.sender)) return this.o.membership.notParticipant(event, group);
    const fate = this.o.registry.roomEventFate(event.type, event.content);
    if (fate.kind === "ignored") return;
    if (!this.o.config.enabled) return this.answer(event, group, RELAY_OFF_TEXT);
    const relay = await this.o.relays.get(group.roomId);
    const view = relay && this.o.groups.viewFor(group, relay.matrixUser);
    if (!view) return this.answer(event, group, NO_RELAY_TEXT);
    if (!this.o.permissions.mayBeRelayed(event.sender)) return this.answer(event, group, REFUSAL);
    // Not bridged for anyone (a poll, a whitespace-only message): the flow answers it as it would the relay's.
    if (fate.kind === "notice") return this.o.toPeople.handle({ ...event, sender: view.matrixUser }, view);
    const name = relaySenderName(event.sender, await this.displayName(group, event.sender));
    const relayed = relayedContent(
      event.type,
      event.content,
      { userId: event.sender, name },
      this.o.config.message_formats,
    );
    if (relayed.kind !== "content") return this.answer(event, group, RELAY_ONLY_TEXT);
    // The relay speaks: the flow sends from its account, maps the event and answers failures.
    await this.o.toPeople.handle({ ...event, sender: view.matrixUser, content: relayed.content }, view);
  }

  private hasAddress(user: string): boolean {
    if (!this.o.permissions.allows(user, "user")) return false;
    try {
      this.o.people.addressFor(user);
      return true;
    } catch {
      return false;
    }
  }

  private async displayName(group: GroupPortal, user: string): Promise<unknown> {
    const speaker = this.o.groups.speaker(group);
    if (!speaker) return undefined;
    try {
      const member = await this.o.ghosts.roomState(speaker, group.roomId, "m.room.member", user);
      return member?.content.displayname;
    } catch (err) {
      this.o.log.debug({ err, room: group.roomId }, "a member's display name could not be read");
      return undefined;
    }
  }

  private async run(command: PortalCommand, event: RoomEvent, group: GroupPortal): Promise<string> {
    switch (command.name) {
      case "set-relay":
        return this.setRelay(event, group);
      case "unset-relay":
        return this.unsetRelay(event, group);
      case "relay": {
        const relay = await this.o.relays.get(group.roomId);
        if (!this.o.config.enabled) return "This bridge does not relay messages (relay mode is off).";
        return relay && this.o.groups.viewFor(group, relay.matrixUser)
          ? `${relay.matrixUser} relays the messages of members without a People address.`
          : "This room has no relay.";
      }
      case "":
      case "help":
        return ["Commands in a group room:", ...PORTAL_HELP.map((l) => `• ${l}`)].join("\n");
      default:
        return `Unknown command \`${command.name}\`. Send \`!people help\` for the commands of this room.`;
    }
  }

  private async setRelay(event: RoomEvent, group: GroupPortal): Promise<string> {
    if (!this.o.config.enabled) return "This bridge does not relay messages (relay mode is off).";
    const view = this.o.groups.viewFor(group, event.sender);
    if (!view)
      return "Only a participant of this People conversation (with a People address) can be its relay.";
    if (!(await this.mayManage(event.sender, group)))
      return this.o.config.admin_only
        ? "Only the bridge's admins may set the relay."
        : "Only a room admin (or a bridge admin) may set the relay.";
    await this.o.relays.put({
      roomId: group.roomId,
      matrixUser: event.sender,
      createdAt: (this.o.now ?? Date.now)(),
    });
    this.o.log.info({ room: group.roomId, relay: event.sender }, "relay set");
    const example = relayedContent(
      "m.room.message",
      { msgtype: "m.text", body: "hello" },
      { userId: "@carol:example.org", name: "Carol" },
      this.o.config.message_formats,
    );
    const shown = example.kind === "content" ? ` as "${String(example.content.body)}"` : "";
    return `Messages of members without a People address are now sent through your People account${shown}.`;
  }

  private async unsetRelay(event: RoomEvent, group: GroupPortal): Promise<string> {
    const relay = await this.o.relays.get(group.roomId);
    if (!relay) return "This room has no relay.";
    if (relay.matrixUser !== event.sender && !(await this.mayManage(event.sender, group)))
      return "Only the relay, a room admin or a bridge admin may unset the relay.";
    await this.o.relays.remove(group.roomId);
    this.o.log.info({ room: group.roomId }, "relay unset");
    return "Stopped relaying the messages of members without a People address.";
  }

  /** Bridge admins always; room admins (who may change the room's settings) unless admin_only. */
  private async mayManage(user: string, group: GroupPortal): Promise<boolean> {
    if (this.o.permissions.allows(user, "admin")) return true;
    if (this.o.config.admin_only || !this.o.permissions.allows(user, "user")) return false;
    const speaker = this.o.groups.speaker(group);
    if (!speaker) return false;
    const power = await roomPowerOf(this.o.ghosts, speaker, group.roomId, user);
    return power.user >= power.settings;
  }

  private async answer(event: RoomEvent, group: GroupPortal, text: string): Promise<void> {
    const speaker: MatrixUserId | undefined = this.o.groups.speaker(group);
    if (!speaker) return;
    const content = noticeReplyContent(notice(text), event.eventId);
    await this.o.ghosts.sendEvent(
      speaker,
      group.roomId,
      "m.room.message",
      content,
      `notice.${event.eventId}`,
    );
  }
}

/** The relay commands in the bot's `help`: they are sent in the group room itself, which this says. */
export function relayHelpCommands(enabled: boolean): Command[] {
  const where = (name: string) =>
    enabled
      ? `Send \`!people ${name}\` in the group room itself (not here): its relay is set per room.`
      : "Relay mode is off on this bridge (bridge.relay.enabled).";
  return [
    {
      name: "set-relay",
      help: "in a group room, as `!people set-relay`: relay the messages of members without a People address",
      level: "user",
      run: () => notice(where("set-relay")),
    },
    {
      name: "unset-relay",
      help: "in a group room, as `!people unset-relay`: stop relaying them",
      level: "user",
      run: () => notice(where("unset-relay")),
    },
  ];
}
