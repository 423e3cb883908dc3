// Which media path the bridge's MatrixRTC calls take (bridge.matrixrtc.media): `passthrough`, the
// people-rtc-relay sidecar carrying Opus and VP8 frames as they come, or `transcode`, both legs in
// this process copying decoded media. A sidecar that is not built (a warning: the calls still work)
// or whose hello fails (an error: a broken build) is logged once and the calls fall back to transcode. The transcode stacks (rtc-node, libwebrtc) are loaded
// only when a call takes that path, so a passthrough bridge holds no libwebrtc of its own.
import { existsSync } from "node:fs";
import type { Logger } from "../../core/ports/logger.js";
import { RelayCallMedia } from "./relay-call.js";
import { RelayProcess } from "./relay-process.js";
import type { RtcMediaPorts } from "./rtc-call-ports.js";

export type MediaMode = "passthrough" | "transcode";
type NewCallMedia = RtcMediaPorts["newCallMedia"];

export const BUILD_HINT = "build it with `npm run build:rtc-relay` (needs Go)";

export interface CallMediaModes {
  ports: Pick<RtcMediaPorts, "prepare" | "newCallMedia">;
  /** The mode calls take now. */
  mode(): MediaMode;
  /** The sidecar when passthrough was configured (tests read its pid and starts). */
  readonly relay: RelayProcess | undefined;
  stop(): Promise<void>;
}

export function callMediaModes(o: {
  mode: MediaMode;
  binary: string;
  /** Arguments for the binary (a stand-in's script in tests). */
  args?: string[];
  env?: Record<string, string>;
  /** The transcode path's factory, loaded on first use. */
  loadTranscode: () => Promise<NewCallMedia>;
  log: Logger;
}): CallMediaModes {
  let mode = o.mode;
  let transcode: NewCallMedia | undefined;
  let relay: RelayProcess | undefined;
  if (mode === "passthrough" && !existsSync(o.binary)) {
    o.log.warn(
      { binary: o.binary },
      `bridge.matrixrtc.media is passthrough but the rtc relay is not at relay_binary: ${BUILD_HINT}. MatrixRTC calls transcode in the bridge instead`,
    );
    mode = "transcode";
  } else if (mode === "passthrough") {
    relay = new RelayProcess({
      binary: o.binary,
      ...(o.args ? { args: o.args } : {}),
      ...(o.env ? { env: o.env } : {}),
      log: o.log.child({ component: "rtc-relay" }),
    });
  }
  return {
    relay,
    mode: () => mode,
    ports: {
      async prepare() {
        if (mode === "passthrough" && relay) {
          try {
            await relay.ensure(); // a new process after one that died
            return;
          } catch (err) {
            o.log.error(
              { err: err instanceof Error ? err.message : String(err), binary: o.binary },
              `the rtc relay did not start (its hello failed): ${BUILD_HINT}. MatrixRTC calls transcode in the bridge instead`,
            );
            mode = "transcode";
            void relay.stop();
          }
        }
        transcode ??= await o.loadTranscode();
      },
      newCallMedia(p) {
        if (mode === "passthrough" && relay) return new RelayCallMedia(relay, p);
        if (!transcode) throw new Error("the transcode media path is not loaded (prepare first)");
        return transcode(p);
      },
    },
    stop: async () => relay?.stop(),
  };
}
