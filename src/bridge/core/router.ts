// The feature registry: built once at start from the features' claims, it
// answers "who owns this type, and what is its fate" for every flow. Two
// features claiming one type is a programming error, refused here with both
// names, so the bridge does not start with an ambiguous route.
import type { Claim, ClaimSide, Fate, Feature } from "./features/feature.js";
import { BridgeError } from "./errors.js";

export interface Owned {
  readonly feature: string;
  readonly fate: Fate;
}

/** A type no feature claims: not bridged, logged at debug. */
export const UNCLAIMED: Fate = {
  kind: "ignored",
  reason: "no feature of the bridge claims this type",
};

export class FeatureRegistry {
  private readonly owners = new Map<string, Owned>();

  constructor(readonly features: readonly Feature[]) {
    const names = new Set<string>();
    for (const feature of features) {
      if (names.has(feature.name))
        throw new BridgeError("feature_conflict", `two features are named ${feature.name}`);
      names.add(feature.name);
      for (const claim of feature.claims) this.claim(feature.name, claim);
    }
  }

  private claim(feature: string, claim: Claim): void {
    const key = keyOf(claim.side, claim.type);
    const other = this.owners.get(key);
    if (other)
      throw new BridgeError(
        "feature_conflict",
        `features ${other.feature} and ${feature} both claim ${claim.side} ${claim.type}`,
      );
    this.owners.set(key, { feature, fate: claim.fate });
  }

  /** The owner of a type, or undefined when no feature claims it. */
  owner(side: ClaimSide, type: string): Owned | undefined {
    return this.owners.get(keyOf(side, type));
  }

  fate(side: ClaimSide, type: string): Fate {
    return this.owner(side, type)?.fate ?? UNCLAIMED;
  }

  /**
   * The fate of a Matrix room event: its msgtype's, for m.room.message with a
   * claimed msgtype; otherwise its type's. An m.room.message with a msgtype no
   * feature claims is left to its type's owner, whose converter answers it. A type its
   * feature carries in its own flow (calls) is ignored by the shared flow that asks.
   */
  roomEventFate(type: string, content: Readonly<Record<string, unknown>>): Fate {
    if (type === "m.room.message" && typeof content.msgtype === "string") {
      const byMsgtype = this.owner("matrix.msgtype", content.msgtype);
      if (byMsgtype) return byMsgtype.fate;
    }
    return this.sharedFlowFate("matrix.room", type);
  }

  /** The feature whose own flow carries this type (Feature.ownFlow), if it is bridged that way. */
  ownFlowOf(side: ClaimSide, type: string): string | undefined {
    const owned = this.owner(side, type);
    if (!owned || owned.fate.kind !== "bridged") return undefined;
    return this.features.find((f) => f.name === owned.feature)?.ownFlow ? owned.feature : undefined;
  }

  /**
   * The fate in a shared flow (the message converters): a type that its feature carries in
   * its own flow reaches one only when that flow is not running, and is ignored there.
   */
  sharedFlowFate(side: ClaimSide, type: string): Fate {
    const feature = this.ownFlowOf(side, type);
    if (!feature) return this.fate(side, type);
    return { kind: "ignored", reason: `carried by the ${feature} feature's own flow, which is not running` };
  }

  /** Every claimed type of one side. */
  claimed(side: ClaimSide): string[] {
    const prefix = `${side} `;
    return [...this.owners.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  }
}

function keyOf(side: ClaimSide, type: string): string {
  return `${side} ${type}`;
}
