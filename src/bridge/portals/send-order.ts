// People → Matrix in order, without one message at a time. The People client
// hands a conversation's messages over in order; each takes its turn first
// (wrap(), around every flow); a DM's plain message then releases the
// conversation (IncomingMessage.release),
// so the next one is looked up and converted while this one waits for its
// turn and is sent. Sends into the room, and the mapping written after each,
// still go one after another in the order the messages came: a turn is ready
// once every earlier turn of its conversation is done. What depends on an
// earlier message (a reply, an edit, a reaction or redaction needs its
// mapping), an own copy, a group's message, a receipt or typing, a call or a
// post, waits for its turn before anything and does not release.
import type { IncomingHandler, IncomingMessage, PeopleAccount } from "../core/ports/people-side.js";
import { portalOwnerOf } from "../core/ports/people-side.js";
import { conversationOf } from "../model/participant-set.js";
import { referencedMessages } from "./group-service.js";

/** What only the portal flow handles, as a new message of its own (no feature flow takes these). */
const PIPELINED_TYPES = new Set(["text", "attachment"]);

export interface Turn {
  /** Resolves once every earlier turn of the conversation is done. */
  readonly ready: Promise<void>;
  /** Whether the message may be prepared before its turn (and release the conversation). */
  readonly pipelined: boolean;
  /** This message is in the room (or never will be): the next turn may go. */
  done(): void;
}

export class SendOrder {
  private readonly tails = new Map<string, Promise<void>>();
  /** The turns of released messages, for the flow to wait on before it sends. */
  private readonly turns = new WeakMap<IncomingMessage, Turn>();

  /**
   * The accounts' handler around `next` (the feature flows, then the portal flow, which hand the
   * message object on as it is): every message takes its turn before anything else; one that may
   * be prepared early releases the conversation, the others wait for their turn first.
   */
  wrap(next: IncomingHandler): IncomingHandler {
    return async (account, m) => {
      const turn = this.enter(account, m);
      try {
        if (turn.pipelined && m.release) {
          this.turns.set(m, turn);
          m.release();
        } else await turn.ready;
        await next(account, m);
      } finally {
        turn.done();
      }
    };
  }

  /** Resolves once `m` may go to the room: at once unless it was released before its turn. */
  ready(m: IncomingMessage): Promise<void> {
    return this.turns.get(m)?.ready ?? Promise.resolve();
  }

  /** A turn behind the ones taken before; call synchronously, in the order the messages came. */
  enter(account: Pick<PeopleAccount, "address" | "portalOwner">, m: IncomingMessage): Turn {
    const set = conversationOf(m.from, m.to);
    const key = `${portalOwnerOf(account)}\n${[...set].sort().join("\n")}`;
    const ready = this.tails.get(key) ?? Promise.resolve();
    let done!: () => void;
    const tail = new Promise<void>((resolve) => (done = resolve));
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    const pipelined =
      m.from !== account.address &&
      set.length <= 2 &&
      PIPELINED_TYPES.has(m.content.type) &&
      referencedMessages(m.content).length === 0;
    // Done only after the earlier turns: a failure before its turn must not let a later one overtake.
    return { ready, pipelined, done: () => void ready.then(done) };
  }

  /** Conversations with a turn taken and not done (tests). */
  get size(): number {
    return this.tails.size;
  }
}
