// The PostgreSQL NOTIFY payload that tells the other processes of a domain
// that mail was stored for some devices: ids only, never content (anyone who
// can LISTEN on the database sees it). The mailbox is the truth; a hint only
// says "read it now", so a lost or forged hint costs a read, nothing more.
import { z } from "zod";

/** The channel the processes of one database LISTEN on. */
export const MAIL_HINT_CHANNEL = "people_mail";
/** PostgreSQL refuses payloads of 8000 bytes or more; stay well below. */
const MAX_PAYLOAD = 7000;

export interface MailHint {
  /** The process that stored the mail (it has pushed it to its own sockets already). */
  origin: string;
  address: string;
  devices: string[];
}

const hintSchema = z.strictObject({
  o: z.string().regex(/^[0-9a-f]{16}$/),
  a: z.string().min(1).max(1024),
  d: z.array(z.string().min(1).max(64)).min(1).max(1000),
});

/** One or more payloads for a hint (devices split so each stays under the size PostgreSQL takes). */
export function formatMailHint(hint: MailHint): string[] {
  const out: string[] = [];
  let devices: string[] = [];
  const payload = (d: string[]) => JSON.stringify({ o: hint.origin, a: hint.address, d });
  for (const device of hint.devices) {
    if (devices.length > 0 && payload([...devices, device]).length > MAX_PAYLOAD) {
      out.push(payload(devices));
      devices = [];
    }
    devices.push(device);
  }
  if (devices.length > 0) out.push(payload(devices));
  return out;
}

/** The hint a payload carries, or undefined for anything malformed (ignored by the listener). */
export function parseMailHint(payload: string): MailHint | undefined {
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch {
    return undefined;
  }
  const parsed = hintSchema.safeParse(json);
  if (!parsed.success) return undefined;
  return { origin: parsed.data.o, address: parsed.data.a, devices: parsed.data.d };
}
