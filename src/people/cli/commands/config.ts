// `people config`: what this data directory remembers of --pin, --ca, --socks and --tor-all, and forgetting it.
import type { Context } from "../context.js";
import { CliError, UsageError } from "../errors.js";
import { describeCertificate, readSettings, settingsPath, writeSettings } from "../settings.js";

export function show(ctx: Context): Promise<void> {
  const saved = readSettings(ctx.dataDir);
  const certs = saved.ca.map(describeCertificate);
  if (ctx.out.json) {
    ctx.out.data({
      data: ctx.dataDir,
      pins: saved.pins,
      ca: certs.map((c) => ({ fingerprint: c.fingerprint, subject: c.subject, valid_to: c.validTo })),
      tor: saved.tor ?? null,
    });
    return Promise.resolve();
  }
  ctx.out.line(`Remembered for ${ctx.dataDir} (${settingsPath(ctx.dataDir)}):`);
  const pins = Object.entries(saved.pins).sort(([a], [b]) => a.localeCompare(b));
  if (pins.length === 0) ctx.out.line("  no --pin");
  else ctx.out.table(["DOMAIN", "SERVER"], pins);
  if (certs.length === 0) ctx.out.line("  no --ca");
  else
    ctx.out.table(
      ["CERTIFICATE", "SUBJECT", "VALID UNTIL"],
      certs.map((c) => [c.fingerprint, c.subject, c.validTo]),
    );
  if (!saved.tor) ctx.out.line("  no --socks");
  else
    ctx.out.line(
      `  Tor: through ${saved.tor.socks}, ${saved.tor.all ? "all traffic (--tor-all)" : ".onion servers only"}`,
    );
  return Promise.resolve();
}

export function unpin(ctx: Context, domain: string): Promise<void> {
  const saved = readSettings(ctx.dataDir);
  const key = domain.trim().toLowerCase();
  if (!(key in saved.pins))
    throw new CliError(domain, "no --pin is remembered for this domain (see `people config`)");
  const pins = Object.fromEntries(Object.entries(saved.pins).filter(([d]) => d !== key));
  writeSettings(ctx.dataDir, { ...saved, pins });
  if (ctx.out.json) ctx.out.data({ unpinned: key });
  else ctx.out.line(`Forgot the pin of ${key}: it is found by discovery again.`);
  return Promise.resolve();
}

export function untrust(ctx: Context, fingerprint: string): Promise<void> {
  const saved = readSettings(ctx.dataDir);
  const prefix = fingerprint.trim().toLowerCase().replace(/:/g, "");
  if (!/^[0-9a-f]{4,64}$/.test(prefix))
    throw new UsageError(fingerprint, "expected a certificate fingerprint as `people config` shows it");
  const matching = saved.ca.filter((pem) =>
    describeCertificate(pem).fingerprint.startsWith(prefix.slice(0, 16)),
  );
  if (matching.length === 0)
    throw new CliError(fingerprint, "no such remembered certificate (see `people config`)");
  if (matching.length > 1) throw new UsageError(fingerprint, "matches several certificates; give more of it");
  writeSettings(ctx.dataDir, { ...saved, ca: saved.ca.filter((pem) => pem !== matching[0]) });
  if (ctx.out.json) ctx.out.data({ untrusted: describeCertificate(matching[0]!).fingerprint });
  else ctx.out.line(`No longer trusting certificate ${describeCertificate(matching[0]!).fingerprint}.`);
  return Promise.resolve();
}

export function forgetTor(ctx: Context): Promise<void> {
  const { tor, ...saved } = readSettings(ctx.dataDir);
  if (!tor) throw new CliError(ctx.dataDir, "no --socks is remembered here (see `people config`)");
  writeSettings(ctx.dataDir, saved);
  if (ctx.out.json) ctx.out.data({ forgot: "tor" });
  else ctx.out.line(`Forgot the Tor proxy ${tor.socks}: give --socks again to reach .onion servers.`);
  return Promise.resolve();
}
