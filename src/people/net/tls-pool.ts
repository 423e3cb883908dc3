// One TLS context per trusted CA set and one keep-alive agent per
// (CA set, source address, socket limit), shared by every People client in the
// process. A context built from the system roots plus an extra CA parses ~140
// certificates and costs ~860 KiB; Node builds one per connection when given
// `ca`, so a bridge serving thousands of accounts would hold thousands. The
// agent pools sockets per remote host:port, so one agent serves every server.
import { createHash } from "node:crypto";
import { Agent } from "node:https";
import { createSecureContext, rootCertificates, type SecureContext } from "node:tls";

const contexts = new Map<string, SecureContext>();

interface PooledAgent {
  agent: Agent;
  users: number;
}
const agents = new Map<string, PooledAgent>();

/** A stable key of a set of extra CA certificates (order and duplicates do not matter). */
export function caSetKey(extraCa: readonly string[]): string {
  const sorted = [...new Set(extraCa.map((pem) => pem.trim()))].sort();
  const hash = createHash("sha256");
  for (const pem of sorted) hash.update(pem).update("\0");
  return hash.digest("hex");
}

/**
 * The TLS context trusting the system roots plus `extraCa`, built once per CA
 * set; undefined without extra CAs (Node's default context shares the roots).
 */
export function secureContextFor(extraCa: readonly string[] | undefined): SecureContext | undefined {
  if (!extraCa || extraCa.length === 0) return undefined;
  const key = caSetKey(extraCa);
  let context = contexts.get(key);
  if (!context) {
    context = createSecureContext({ ca: [...rootCertificates, ...extraCa] });
    contexts.set(key, context);
  }
  return context;
}

export interface SharedAgentOptions {
  ca?: readonly string[];
  localAddress?: string;
  maxSockets: number;
}

/** A lease on the process-wide agent for these options; `release()` once, when done with it. */
export interface AgentLease {
  readonly agent: Agent;
  release(): void;
}

export function leaseAgent(o: SharedAgentOptions): AgentLease {
  const ca = o.ca && o.ca.length > 0 ? caSetKey(o.ca) : "system";
  const key = `${ca}|${o.localAddress ?? ""}|${o.maxSockets}`;
  let pooled = agents.get(key);
  if (!pooled) {
    const secureContext = secureContextFor(o.ca);
    pooled = {
      agent: new Agent({
        keepAlive: true,
        maxSockets: o.maxSockets,
        ...(secureContext ? { secureContext } : {}),
        ...(o.localAddress ? { localAddress: o.localAddress } : {}),
      }),
      users: 0,
    };
    agents.set(key, pooled);
  }
  pooled.users++;
  const entry = pooled;
  let released = false;
  return {
    agent: entry.agent,
    release() {
      if (released) return;
      released = true;
      // The last user gone: close its idle sockets so a stopped process has nothing left open.
      if (--entry.users === 0 && agents.get(key) === entry) {
        agents.delete(key);
        entry.agent.destroy();
      }
    },
  };
}

/** How many shared agents and TLS contexts exist (tests and the scale bench). */
export function poolSizes(): { agents: number; contexts: number } {
  return { agents: agents.size, contexts: contexts.size };
}
