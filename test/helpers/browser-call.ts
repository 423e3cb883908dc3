// Alice as Element Web, for the call tests: Debian's headless Chromium
// (/usr/bin/chromium, installed by .ci/run) driven by playwright-core (as the
// MatrixRTC tests drive it), running matrix-js-sdk's call code with its Rust
// crypto (so calls in encrypted rooms are Megolm-encrypted as Element sends
// them) from a bundle esbuild makes (cached under .cache/, keyed by the page's
// source and matrix-js-sdk's version). The page is served from 127.0.0.1, a
// secure context, so getUserMedia works; the crypto's wasm is served next to it.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { build } from "esbuild";
import type { Browser, Page } from "playwright-core";
import { launchMediaBrowser } from "./chromium.js";

const ROOT = join(__dirname, "..", "..");
const ENTRY = join(__dirname, "browser", "alice-page.ts");
const WASM = join(ROOT, "node_modules", "@matrix-org", "matrix-sdk-crypto-wasm", "pkg");
const WASM_FILE = "matrix_sdk_crypto_wasm_bg.wasm";
export { CHROMIUM } from "./chromium.js";

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
  /** Video frames decoded from the far side (requestVideoFrameCallback on a video element). */
  videoFrames: number;
  /** Call events that reached the page encrypted and were decrypted by its Rust crypto. */
  decryptedCallEvents: number;
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
    // The crypto finds its wasm relative to import.meta.url: the page's own address, served below.
    define: {
      "process.env.NODE_ENV": '"production"',
      global: "globalThis",
      "import.meta.url": "document.baseURI",
    },
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
    const wasm = readFileSync(join(WASM, WASM_FILE));
    const html = `<!doctype html><meta charset="utf-8"><title>alice</title><script src="/alice.js"></script>`;
    const server = createServer((req, res) => {
      if (req.url === `/pkg/${WASM_FILE}`) {
        res.writeHead(200, { "content-type": "application/wasm" });
        return res.end(wasm);
      }
      const js = req.url === "/alice.js";
      res.writeHead(200, { "content-type": js ? "text/javascript" : "text/html" });
      res.end(js ? script : html);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const browser = await launchMediaBrowser(() => server.close());
    try {
      const context = await browser.newContext({ permissions: ["camera", "microphone"] });
      const page = await context.newPage();
      const console: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") console.push(m.text());
      });
      page.on("pageerror", (e) => console.push(String(e)));
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await page.waitForFunction(() => typeof (globalThis as { alice?: unknown }).alice === "object");
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
      ([n, a]) =>
        (globalThis as unknown as Record<string, Record<string, (...x: unknown[]) => unknown>>).alice![n]!(
          ...a,
        ),
      [name, args] as const,
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
