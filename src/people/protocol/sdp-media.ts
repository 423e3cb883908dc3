// Which media an SDP carries (PROTOCOL §11.3.1, "A device that cannot take
// video"): a video call answered by a device without a camera stack comes
// back with its video m-line refused (port 0, RFC 3264 §6), inactive, or
// absent. The caller's device and the bridge read the answer with this and
// say so to their user instead of showing a video call that never shows video.

/** True when the SDP has a video m-line that is neither refused (port 0) nor `a=inactive`. */
export function sdpCarriesVideo(sdp: string): boolean {
  let inVideo = false;
  let videoLive = false;
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith("m=")) {
      if (inVideo && videoLive) return true;
      const [kind, port] = line.slice(2).split(" ");
      inVideo = kind === "video";
      videoLive = inVideo && port !== undefined && /^\d+(\/\d+)?$/.test(port) && !/^0(\/|$)/.test(port);
    } else if (inVideo && line === "a=inactive") {
      videoLive = false;
    }
  }
  return inVideo && videoLive;
}
