// What the provisioning API does for a user, on the bridge's parts: the same
// services the bot's commands use (a DM made here is the room `dm <address>`
// gives), answered in mautrix's /v3 shapes. Only the edge (api.ts) knows HTTP.
import { addressDomain, type PeopleAddress } from "../../../people/protocol/address.js";
import type { Logger } from "../../logger.js";
import type { GhostSide } from "../../core/ports/matrix-side.js";
import type { MatrixUserId } from "../../model/matrix-ids.js";
import type { ContactTrust, PeopleAccount, PeopleSide } from "../../core/ports/people-side.js";
import { unresolvable } from "../../portals/group-admission.js";
import { createGroupPortal } from "../../portals/group-create.js";
import type { Portals } from "../../portals/portals.js";
import type { BridgeStore } from "../../core/ports/store.js";
import { provisioningError } from "./errors.js";

/** A login's state, as mautrix names them. */
export type LoginState = "CONNECTED" | "CONNECTING" | "TRANSIENT_DISCONNECT";

export interface ProvisioningBackendOptions {
  people: PeopleSide;
  /** Whether the user's People client is connected to its server now (undefined: not open). */
  connected(user: MatrixUserId): boolean | undefined;
  ghosts: GhostSide;
  log: Logger;
  portals: Portals;
  store: Pick<BridgeStore, "peopleAccounts" | "managementRooms" | "portals" | "groups" | "ghostProfiles">;
  homeserverDomain: string;
  homeserverConnected(): boolean;
  peopleDomain: string;
  peopleUrl: string;
  botUserId: string;
  now?: () => number;
}

/** mautrix's ResolvedIdentifier, with the contact's trust where known. */
export interface Resolved {
  id: string;
  name: string;
  identifiers: string[];
  mxid: string;
  dm_room_mxid?: string;
}

export class ProvisioningBackend {
  constructor(private readonly o: ProvisioningBackendOptions) {}

  async whoami(user: MatrixUserId): Promise<Record<string, unknown>> {
    const [record, management] = await Promise.all([
      this.o.store.peopleAccounts.get(user),
      this.o.store.managementRooms.forUser(user),
    ]);
    const logins = record
      ? [
          {
            id: record.address,
            name: record.address,
            state: { state_event: this.loginState(user), timestamp: (this.o.now ?? Date.now)() },
            profile: { username: record.address },
          },
        ]
      : [];
    return {
      network: {
        displayname: "People",
        network_id: "people",
        network_url: `https://${this.o.peopleDomain}`,
        beeper_bridge_type: "matrix-appservice-people",
      },
      login_flows: [],
      homeserver: this.o.homeserverDomain,
      bridge_bot: this.o.botUserId,
      command_prefix: "",
      ...(management ? { management_room: management.roomId } : {}),
      logins,
      people: {
        domain: this.o.peopleDomain,
        server: this.o.peopleUrl,
        addresses: record ? [record.address] : [],
        // The address the first use would give (a user of another homeserver gets none).
        address_on_first_use: record ? record.address : this.wouldGet(user),
      },
      bridge_state: { state_event: this.o.homeserverConnected() ? "CONNECTED" : "TRANSIENT_DISCONNECT" },
    };
  }

  /** The user's contacts with what is known of their keys; none before their account exists. */
  async contacts(user: MatrixUserId): Promise<{ contacts: (Resolved & { trust: TrustView })[] }> {
    if (!(await this.o.store.peopleAccounts.get(user))) return { contacts: [] };
    const account = await this.o.people.accountFor(user);
    const contacts = await account.contacts();
    const out = [];
    for (const c of contacts) out.push({ ...(await this.resolved(user, c.address)), trust: trustView(c) });
    return { contacts: out };
  }

  /** Whether the address has a People account, its ghost, and the user's DM with it if any. */
  async resolve(user: MatrixUserId, address: PeopleAddress): Promise<Resolved> {
    const account = await this.accountOf(user);
    await this.mustExist(account, address);
    return this.resolved(user, address);
  }

  /** The DM portal with the address: the one the bot's `dm` command finds or makes. */
  async createDm(user: MatrixUserId, address: PeopleAddress): Promise<Resolved & { just_created: boolean }> {
    const account = await this.accountOf(user);
    if (!(await this.o.store.portals.byPair(account.owner, address))) await this.mustExist(account, address);
    const { portal, created } = await this.o.portals.service.startDm(account.owner, address);
    return { ...(await this.resolved(user, address)), dm_room_mxid: portal.roomId, just_created: created };
  }

  async createGroup(
    user: MatrixUserId,
    request: { addresses: readonly PeopleAddress[]; name?: string },
  ): Promise<{ id: string; mxid: string; just_created: boolean }> {
    const account = await this.accountOf(user);
    const others = request.addresses.filter((a) => a !== account.address);
    if (others.length < 2) {
      throw provisioningError(
        "PEOPLE.REFUSED",
        "a group needs at least two People addresses besides yours; for one, use create_dm",
      );
    }
    const ghosts: PeopleAddress[] = [];
    for (const a of others) if (!(await this.o.people.matrixUserOf(a))) ghosts.push(a);
    const bad = await unresolvable(account, ghosts);
    for (const [a, why] of bad) {
      if (why === "unknown") throw provisioningError("M_NOT_FOUND", `${a} has no People account`);
    }
    const [unreachable] = bad.keys();
    if (unreachable) throw unreachableError(unreachable);
    const { roomId, created } = await createGroupPortal(
      {
        ghosts: this.o.ghosts,
        groups: this.o.portals.groups,
        store: this.o.store.groups,
        ...(this.o.portals.state
          ? { announce: this.o.portals.state.announce.bind(this.o.portals.state) }
          : {}),
        log: this.o.log,
      },
      {
        user: account.owner,
        own: account.address,
        addresses: others,
        ...(request.name ? { name: request.name } : {}),
      },
    );
    return { id: roomId, mxid: roomId, just_created: created };
  }

  private loginState(user: MatrixUserId): LoginState {
    const connected = this.o.connected(user);
    if (connected === undefined) return "CONNECTING";
    return connected ? "CONNECTED" : "TRANSIENT_DISCONNECT";
  }

  private wouldGet(user: MatrixUserId): string | null {
    try {
      return this.o.people.addressFor(user);
    } catch {
      return null;
    }
  }

  private async accountOf(user: MatrixUserId): Promise<PeopleAccount> {
    // A user who cannot have an address (another homeserver, a localpart People refuses) is told why.
    this.o.people.addressFor(user);
    return this.o.people.accountFor(user);
  }

  private async mustExist(account: PeopleAccount, address: PeopleAddress): Promise<void> {
    if (address === account.address) {
      throw provisioningError("PEOPLE.OWN_ADDRESS", "that is your own People address");
    }
    const found = await account.lookup(address);
    if (found.status === "unknown")
      throw provisioningError("M_NOT_FOUND", `${address} has no People account`);
    if (found.status === "unreachable") throw unreachableError(address);
  }

  private async resolved(user: MatrixUserId, address: PeopleAddress): Promise<Resolved> {
    const [profile, dm] = await Promise.all([
      this.o.store.ghostProfiles.get(address),
      this.o.store.portals.byPair(user, address),
    ]);
    return {
      id: address,
      name: profile?.displayName ?? address,
      identifiers: [`people:${address}`],
      mxid: this.o.ghosts.ghostId(address),
      ...(dm ? { dm_room_mxid: dm.roomId } : {}),
    };
  }
}

export interface TrustView {
  state: ContactTrust["state"];
  verified: boolean;
  devices: number;
  stale: boolean;
}

function trustView(c: ContactTrust): TrustView {
  return { state: c.state, verified: c.verified, devices: c.devices.length, stale: c.stale };
}

function unreachableError(address: PeopleAddress) {
  return provisioningError(
    "PEOPLE.UNREACHABLE",
    `the People server of ${addressDomain(address)} cannot be reached right now; try again later`,
  );
}
