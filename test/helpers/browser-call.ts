// Alice as Element Web, for the call tests: Debian's headless Chromium
// (/usr/bin/chromium, installed by .ci/run) driven by puppeteer-core, running
// matrix-js-sdk's call code from a bundle esbuild makes (cached under .cache/,
// keyed by the page's source and matrix-js-sdk's version). The page is served
// from 127.0.0.1, a secure context, so getUserMedia works.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { build } from "esbuild";
import puppeteer, { type Browser, type Page } from "puppeteer-core";

const ROOT = join(__dirname, "..", "..");
const ENTRY = join(__dirname, "browser", "alice-page.ts");
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** What the page reports of Alice's call (alice-page.ts). */
export interface AliceStatus {
  callId: string | undefined;
  state: string | undefined;
  direction: string | undefined;
  hangupReason: string | undefined;
  hangupParty: string | undefined;
  heard: boolean;
  incoming: string[];
  endedIncoming: string[];
  remoteVideo: boolean;
  errors: string[];
}

async function bundle(): Promise<string> {
  const sdk = JSON.parse(
    readFileSync(join(ROOT, "node_modules", "matrix-js-sdk", "package.json"), "utf8"),
  ) as {
    version: string;
  };
  const key = createHash("sha256").update(readFileSync(ENTRY)).update(sdk.version).digest("hex").slice(0, 16);
  const dir = join(ROOT, ".cache", "browser-call");
  const file = join(dir, `alice-page-${key}.js`);
  if (existsSync(file)) return readFileSync(file, "utf8");
  mkdirSync(dir, { recursive: true });
  const out = await build({
    entryPoints: [ENTRY],
    bundle: true,
    platform: "browser",
    format: "iife",
    target: "chrome120",
    write: false,
    logLevel: "error",
    define: { "process.env.NODE_ENV": '"production"', global: "globalThis" },
  });
  const text = out.outputFiles[0]!.text;
  writeFileSync(file, text);
  return text;
}

export class BrowserAlice {
  private constructor(
    private readonly browser: Browser,
    private readonly server: Server,
    readonly page: Page,
    /** Chromium's console errors, for a failing test's message. */
    readonly console: string[],
  ) {}

  static async launch(): Promise<BrowserAlice> {
    const script = await bundle();
    const html = `<!doctype html><meta charset="utf-8"><title>alice</title><script src="/alice.js"></script>`;
    const server = createServer((req, res) => {
      const js = req.url === "/alice.js";
      res.writeHead(200, { "content-type": js ? "text/javascript" : "text/html" });
      res.end(js ? script : html);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        "--autoplay-policy=no-user-gesture-required",
      ],
    });
    try {
      const page = await browser.newPage();
      const console: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") console.push(m.text());
      });
      page.on("pageerror", (e) => console.push(String(e)));
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      return new BrowserAlice(browser, server, page, console);
    } catch (e) {
      await browser.close();
      server.close();
      throw e;
    }
  }

  /** Calls `alice.<name>(...args)` in the page. */
  run<T>(name: string, ...args: unknown[]): Promise<T> {
    return this.page.evaluate(
      (n, a) =>
        (globalThis as unknown as Record<string, Record<string, (...x: unknown[]) => unknown>>).alice![n]!(
          ...a,
        ),
      name,
      args,
    ) as Promise<T>;
  }

  status(): Promise<AliceStatus> {
    return this.run<AliceStatus>("status");
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => undefined);
    this.server.close();
  }
}
