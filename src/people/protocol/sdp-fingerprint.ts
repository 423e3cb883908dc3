// The DTLS certificate fingerprint of a call (PROTOCOL §11.3): the signed
// `dtls_fingerprint` of an `rt_offer`/`rt_answer` and the `a=fingerprint`
// lines of its SDP (RFC 8122). A receiver refuses an SDP any of whose
// fingerprints is not the signed one, so the WebRTC stack, which checks the
// peer's certificate against the SDP, accepts only the signing device's.
import { PeopleError } from "../errors.js";

/** Hash functions WebRTC stacks use for certificate fingerprints, with their digest lengths. */
const DIGEST_BYTES: Readonly<Record<string, number>> = { "sha-256": 32, "sha-384": 48, "sha-512": 64 };

export interface DtlsFingerprint {
  /** Lower case, e.g. "sha-256". */
  algorithm: string;
  /** Upper-case hex pairs joined by colons, e.g. "AB:01:…". */
  hex: string;
}

const FINGERPRINT = /^([A-Za-z0-9-]{1,16}) ((?:[0-9A-Fa-f]{2}:){19,63}[0-9A-Fa-f]{2})$/;

/** Parse "sha-256 AB:CD:…" (the value of an a=fingerprint line); undefined when malformed. */
export function parseFingerprint(text: string): DtlsFingerprint | undefined {
  const m = FINGERPRINT.exec(text.trim());
  if (!m) return undefined;
  const algorithm = m[1]!.toLowerCase();
  const hex = m[2]!.toUpperCase();
  const bytes = DIGEST_BYTES[algorithm];
  if (bytes === undefined || hex.length !== bytes * 3 - 1) return undefined;
  return { algorithm, hex };
}

export function formatFingerprint(f: DtlsFingerprint): string {
  return `${f.algorithm} ${f.hex}`;
}

export function sameFingerprint(a: DtlsFingerprint, b: DtlsFingerprint): boolean {
  return a.algorithm === b.algorithm && a.hex === b.hex;
}

/** Every a=fingerprint of an SDP, session and media level; a malformed one is an error. */
export function sdpFingerprints(sdp: string): DtlsFingerprint[] {
  const out: DtlsFingerprint[] = [];
  for (const line of sdp.split(/\r?\n/)) {
    if (!line.startsWith("a=fingerprint:")) continue;
    const f = parseFingerprint(line.slice("a=fingerprint:".length));
    if (!f) throw new PeopleError("PEOPLE_BAD_REQUEST", "malformed a=fingerprint in the SDP");
    out.push(f);
  }
  return out;
}

/** The one fingerprint an SDP names (all its lines agree); the sender puts it in `dtls_fingerprint`. */
export function sdpFingerprint(sdp: string): DtlsFingerprint {
  const all = sdpFingerprints(sdp);
  const first = all[0];
  if (!first) throw new PeopleError("PEOPLE_BAD_REQUEST", "the SDP has no DTLS fingerprint");
  if (!all.every((f) => sameFingerprint(f, first)))
    throw new PeopleError("PEOPLE_BAD_REQUEST", "the SDP names more than one DTLS fingerprint");
  return first;
}

/** Refuse an SDP unless it names exactly the signed fingerprint (every line of it). */
export function checkSdpFingerprint(sdp: string, signed: string): DtlsFingerprint {
  const want = parseFingerprint(signed);
  if (!want) throw new PeopleError("PEOPLE_BAD_REQUEST", "malformed dtls_fingerprint");
  const all = sdpFingerprints(sdp);
  if (all.length === 0) throw new PeopleError("PEOPLE_BAD_REQUEST", "the SDP has no DTLS fingerprint");
  if (!all.every((f) => sameFingerprint(f, want)))
    throw new PeopleError("PEOPLE_BAD_REQUEST", "the SDP's DTLS fingerprint is not the signed one");
  return want;
}

/**
 * The SDP without its ICE candidates, and those candidates. A caller's offer goes to every
 * device of the callee: candidates in it would let every answering device reach the caller's
 * ICE agent, and one that lost the answer race could win the ICE path (then fail DTLS). They
 * are trickled to the answering device only.
 */
export function splitCandidates(sdp: string): {
  sdp: string;
  candidates: { candidate: string; mid?: string; index: number }[];
} {
  const kept: string[] = [];
  const found: { candidate: string; section: number }[] = [];
  const mids = new Map<number, string>();
  let section = -1;
  for (const line of sdp.split(/(?<=\n)/)) {
    if (line.startsWith("m=")) section++;
    const mid = /^a=mid:(\S+)/.exec(line);
    if (mid && section >= 0) mids.set(section, mid[1]!);
    const c = /^a=(candidate:[^\r\n]+)/.exec(line);
    if (c && section >= 0) found.push({ candidate: c[1]!, section });
    else if (!/^a=(candidate|end-of-candidates)/.test(line)) kept.push(line);
  }
  return {
    sdp: kept.join(""),
    candidates: found.map((f) => {
      const mid = mids.get(f.section);
      return { candidate: f.candidate, ...(mid !== undefined ? { mid } : {}), index: f.section };
    }),
  };
}

/** The fingerprint rule (PROTOCOL §11.3.1) as a yes or no. */
export function fingerprintHolds(sdp: string, signed: string): boolean {
  try {
    checkSdpFingerprint(sdp, signed);
    return true;
  } catch {
    return false;
  }
}
