// The world of the MatrixRTC e2e files: livekit-server, the lk-jwt stand-in serving the world's
// homeserver, and a bridge with the MatrixRTC switch on and the ghosts' devices allowed (rooms the
// bridge makes stay plain unless a test makes its own encrypted one). The calls' media goes through
// the people-rtc-relay sidecar (bridge.matrixrtc.media: passthrough, the default), built on first
// use; PEOPLE_TEST_RTC_MEDIA=transcode runs the same files through the bridge's own transcoding.
import { BridgeWorld } from "./bridge-world.js";
import { elementCallSynapseOptions, startLivekit, type Livekit } from "./livekit.js";
import { startLkJwtService, type LkJwtService } from "./lk-jwt-service.js";
import { readySdkForNode } from "./matrix-sdk-node.js";
import { ensureRtcRelayBuilt, noteSidecarBaseline } from "./rtc-relay.js";

export interface RtcBridgeWorld {
  livekit: Livekit;
  tokens: LkJwtService;
  world: BridgeWorld;
}

/** The media path the MatrixRTC tests run (PEOPLE_TEST_RTC_MEDIA; passthrough by default). */
export function rtcTestMedia(): "passthrough" | "transcode" {
  return process.env.PEOPLE_TEST_RTC_MEDIA === "transcode" ? "transcode" : "passthrough";
}

/** Starts the three; what started is stopped again if a later one fails. */
export async function startRtcBridgeWorld(o: { childProcess?: boolean } = {}): Promise<RtcBridgeWorld> {
  await readySdkForNode();
  const media = rtcTestMedia();
  const relayBinary = media === "passthrough" ? await ensureRtcRelayBuilt() : undefined;
  noteSidecarBaseline();
  const homeservers: Record<string, string> = {};
  const livekit = await startLivekit();
  let tokens: LkJwtService | undefined;
  try {
    tokens = await startLkJwtService({
      livekitUrl: livekit.wsUrl,
      apiKey: livekit.apiKey,
      apiSecret: livekit.apiSecret,
      homeservers,
    });
    const ec = elementCallSynapseOptions(tokens.url);
    const world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user" },
      ...(o.childProcess ? { childProcess: true } : {}),
      synapseConfig: ec.config,
      synapseExperimentalFeatures: ec.experimentalFeatures,
      configure: (i) => ({
        ...i,
        encryption: { allow: true, default: false },
        ...(process.env.PEOPLE_TEST_VERBOSE ? { logging: { level: "debug" as const } } : {}),
        bridge: {
          ...i.bridge!,
          matrixrtc: { enabled: true, media, ...(relayBinary ? { relay_binary: relayBinary } : {}) },
        },
      }),
    });
    homeservers[world.hs.serverName] = world.hs.url;
    return { livekit, tokens, world };
  } catch (e) {
    await tokens?.stop();
    await livekit.stop();
    throw e;
  }
}
