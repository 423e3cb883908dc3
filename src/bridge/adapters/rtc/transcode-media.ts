// The transcode mode's call media (bridge.matrixrtc.media: transcode, and the fallback when the
// people-rtc-relay sidecar cannot run): rtc-node's LiveKit leg and a libwebrtc People peer in the
// bridge process, MediaRelay copying decoded PCM and I420 between them.
import type { MediaPeer, PeerOptions } from "../../../people/client/calls/media-engine.js";
import { MediaRelay } from "./media-relay.js";
import type { CallMedia, RtcLeg, RtcMediaPorts } from "./rtc-call-ports.js";

export interface TranscodeCallMedia extends CallMedia {
  readonly leg: RtcLeg;
  readonly relay: MediaRelay;
}

export function transcodeMedia(p: {
  newLeg(): RtcLeg;
  createPeer(o: PeerOptions): MediaPeer;
}): (o: Parameters<RtcMediaPorts["newCallMedia"]>[0]) => TranscodeCallMedia {
  return (o) => {
    const leg = p.newLeg();
    let from: string | undefined;
    const relay = new MediaRelay(leg, () => from);
    const peer = p.createPeer({
      media: o.media,
      iceServers: o.iceServers,
      relayOnly: false,
      audio: { silence: true },
      live: relay,
    });
    relay.fromPeople(peer.events);
    return {
      leg,
      peer,
      relay,
      from: (identity) => void (from = identity),
      // Both legs live in this process: nothing can be lost under the call but the process.
      onLost: () => undefined,
      close: () => relay.close(),
    };
  };
}
