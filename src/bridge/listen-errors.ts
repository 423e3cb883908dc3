// A listener that cannot bind (the port is taken, or not allowed) is a
// configuration problem: name the config key, not a bare EADDRINUSE.
import { ConfigError } from "./config.js";

const REASONS: Record<string, string> = {
  EADDRINUSE: "is already in use (another process listens there): stop it or choose another port",
  EACCES: "may not be opened by this user (ports below 1024 need privileges): choose another port",
  EADDRNOTAVAIL: "is not an address of this machine",
};

/** Runs `start`; a bind failure becomes a ConfigError naming `key` and the address. */
export async function listenOn<T>(
  key: string,
  host: string,
  port: number,
  start: () => Promise<T>,
): Promise<T> {
  try {
    return await start();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    const reason = code ? REASONS[code] : undefined;
    if (!reason) throw err;
    const where = code === "EADDRNOTAVAIL" ? `host ${host}` : `port ${port} on ${host}`;
    throw new ConfigError(key, `${where} ${reason} (${code})`);
  }
}
