// Headless Debian Chromium (/usr/bin/chromium, .ci/run installs it) driven by playwright-core,
// with the rtc page (test/helpers/rtc-page/page.ts) bundled by esbuild and served from loopback
// (a secure context, which LiveKit's frame encryption needs). One browser per test file; one
// page per call participant. Fake camera and fake media UI flags; the page makes its own tone.
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import type { Page } from "playwright-core";
import { launchMediaBrowser } from "./chromium.js";
import { freePort } from "./ports.js";

export { CHROMIUM } from "./chromium.js";
const ROOT = resolve(__dirname, "..", "..");

export interface RemoteStats {
  toneHz: number;
  toneHits: number;
  videoFrames: number;
  videoWidth: number;
  encrypted: boolean;
}

export interface PageState {
  connected: boolean;
  e2ee: boolean;
  remotes: Record<string, RemoteStats>;
  events: string[];
  /** RTP packets the page's own microphone and camera sent (0 while its frames cannot be encrypted). */
  sent: { audio: number; video: number };
}

/** One participant's media: a tab running livekit-client. */
export class RtcPage {
  constructor(readonly page: Page) {}

  /** `e2ee` false: no frame encryption, as Element Call in an unencrypted room. */
  connect(url: string, jwt: string, toneHz: number, video = true, e2ee = true): Promise<void> {
    return this.page.evaluate(([u, j, t, v, e]) => rtcPage.connect(u, j, t, v, e), [
      url,
      jwt,
      toneHz,
      video,
      e2ee,
    ] as const);
  }

  setKey(identity: string, key: Uint8Array, index: number): Promise<void> {
    const b64 = Buffer.from(key).toString("base64");
    return this.page.evaluate(([i, k, n]) => rtcPage.setKey(i, k, n), [identity, b64, index] as const);
  }

  disconnect(): Promise<void> {
    return this.page.evaluate(() => rtcPage.disconnect());
  }

  state(): Promise<PageState> {
    return this.page.evaluate(() => rtcPage.state());
  }

  close(): Promise<void> {
    return this.page.close();
  }
}

// What page.ts puts on the page's window (evaluated there, never in Node).
declare global {
  var rtcPage: {
    connect(url: string, jwt: string, toneHz: number, video: boolean, e2ee: boolean): Promise<void>;
    setKey(identity: string, keyB64: string, index: number): Promise<void>;
    disconnect(): Promise<void>;
    state(): Promise<PageState>;
  };
}

export interface RtcBrowser {
  newPage(): Promise<RtcPage>;
  close(): Promise<void>;
}

async function bundle(): Promise<string> {
  const out = await build({
    entryPoints: [join(ROOT, "test", "helpers", "rtc-page", "page.ts")],
    bundle: true,
    format: "iife",
    platform: "browser",
    target: "chrome120",
    write: false,
    logLevel: "silent",
  });
  const file = out.outputFiles[0];
  if (!file) throw new Error("esbuild produced no page bundle");
  return file.text;
}

export async function startRtcBrowser(): Promise<RtcBrowser> {
  const script = await bundle();
  const worker = readFileSync(
    join(ROOT, "node_modules", "livekit-client", "dist", "livekit-client.e2ee.worker.js"),
  );
  const server: Server = createServer((req, res) => {
    if (req.url === "/page.js") {
      res.writeHead(200, { "content-type": "text/javascript" });
      return res.end(script);
    }
    if (req.url === "/e2ee-worker.js") {
      res.writeHead(200, { "content-type": "text/javascript" });
      return res.end(worker);
    }
    res.writeHead(200, { "content-type": "text/html" });
    res.end('<!doctype html><meta charset="utf-8"><title>rtc</title><script src="/page.js"></script>');
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  const browser = await launchMediaBrowser(() => server.close());
  const context = await browser.newContext({ permissions: ["camera", "microphone"] });
  return {
    async newPage() {
      const page = await context.newPage();
      if (process.env.PEOPLE_TEST_VERBOSE) page.on("console", (m) => console.error(`[page] ${m.text()}`));
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForFunction(() => typeof globalThis.rtcPage === "object");
      return new RtcPage(page);
    },
    async close() {
      await browser.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
