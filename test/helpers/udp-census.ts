// The UDP sockets a process holds, from /proc: the inodes in
// /proc/<pid>/net/udp and udp6 (every UDP socket of its network namespace)
// that one of its file descriptors points at ("socket:[inode]"). Native
// sockets (libwebrtc's) count as well as Node's dgram ones.
import { readFileSync, readdirSync, readlinkSync } from "node:fs";

function udpInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ["udp", "udp6"]) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9) inodes.add(cols[9]!);
    }
  }
  return inodes;
}

/** How many UDP sockets `pid` has open now. */
export function udpSocketsOf(pid: number): number {
  const udp = udpInodes(pid);
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m && udp.has(m[1]!)) n++;
  }
  return n;
}
