// The media half of the Element X stand-in, bundled with esbuild and run in headless Chromium:
// livekit-client with per-participant end-to-end media keys (the keys themselves come from
// matrix-js-sdk's MatrixRTCSession in the test process, as Element Call feeds them to LiveKit),
// a WebAudio oscillator as the microphone, the fake camera, and an AnalyserNode per remote
// audio track to find the tone a peer sends. The test process drives it through window.rtcPage.
import {
  BaseKeyProvider,
  createKeyMaterialFromBuffer,
  LocalAudioTrack,
  LocalVideoTrack,
  Room,
  RoomEvent,
  Track,
  createLocalVideoTrack,
  type RemoteTrack,
  type RemoteParticipant,
} from "livekit-client";

class MatrixKeyProvider extends BaseKeyProvider {
  constructor() {
    // Element Call's settings: a per-participant keyring, no ratcheting of its own.
    super({ ratchetWindowSize: 10, keyringSize: 256 });
  }
  async setKey(identity: string, keyB64: string, index: number): Promise<void> {
    const bytes = Uint8Array.from(atob(keyB64), (c) => c.charCodeAt(0));
    this.onSetEncryptionKey(await createKeyMaterialFromBuffer(bytes.buffer), identity, index);
  }
}

interface RemoteStats {
  /** The strongest frequency bin (Hz) while the level is above the noise floor, else 0. */
  toneHz: number;
  /** Times we saw a tone of a stable frequency. */
  toneHits: number;
  videoFrames: number;
  videoWidth: number;
  encrypted: boolean;
}

const audio = new AudioContext();
const keys = new MatrixKeyProvider();
let room: Room | undefined;
const remotes = new Map<string, RemoteStats>();
const events: string[] = [];
/** An event with its UTC time of day, to read beside the bridge's log. */
const event = (what: string): void => void events.push(`${new Date().toISOString().slice(11, 23)} ${what}`);

function statsOf(identity: string): RemoteStats {
  let s = remotes.get(identity);
  if (!s) {
    s = { toneHz: 0, toneHits: 0, videoFrames: 0, videoWidth: 0, encrypted: false };
    remotes.set(identity, s);
  }
  return s;
}

function watchAudio(track: RemoteTrack, p: RemoteParticipant): void {
  // Chromium only feeds remote WebRTC audio into WebAudio while an element plays it.
  const el = track.attach() as HTMLAudioElement;
  el.muted = true;
  document.body.appendChild(el);
  const source = audio.createMediaStreamSource(new MediaStream([track.mediaStreamTrack]));
  const analyser = audio.createAnalyser();
  analyser.fftSize = 4096;
  source.connect(analyser);
  const bins = new Float32Array(analyser.frequencyBinCount);
  const s = statsOf(p.identity);
  const tick = (): void => {
    analyser.getFloatFrequencyData(bins);
    let best = 0;
    for (let i = 1; i < bins.length; i++) if ((bins[i] ?? -Infinity) > (bins[best] ?? -Infinity)) best = i;
    const level = bins[best] ?? -Infinity;
    const hz = (best * audio.sampleRate) / analyser.fftSize;
    if (level > -60 && hz > 50) {
      s.toneHits = Math.abs(hz - s.toneHz) < 15 ? s.toneHits + 1 : 1;
      s.toneHz = hz;
    } else {
      s.toneHits = 0;
      s.toneHz = 0;
    }
  };
  setInterval(tick, 50);
}

function watchVideo(track: RemoteTrack, p: RemoteParticipant): void {
  const el = track.attach() as HTMLVideoElement;
  el.muted = true;
  document.body.appendChild(el);
  const s = statsOf(p.identity);
  const onFrame = (_now: number, meta: VideoFrameCallbackMetadata): void => {
    s.videoFrames++;
    s.videoWidth = meta.width;
    el.requestVideoFrameCallback(onFrame);
  };
  el.requestVideoFrameCallback(onFrame);
  void el.play();
}

const api = {
  async connect(url: string, jwt: string, toneHz: number, withVideo: boolean, e2ee: boolean): Promise<void> {
    await audio.resume();
    // Element Call in an unencrypted room (E2eeType.NONE): no key provider, plain frames.
    room = e2ee
      ? new Room({ e2ee: { keyProvider: keys, worker: new Worker("/e2ee-worker.js") } })
      : new Room();
    room.on(RoomEvent.TrackSubscribed, (track, _pub, p) => {
      event(`subscribed ${p.identity} ${track.kind}`);
      statsOf(p.identity).encrypted = p.isEncrypted;
      if (track.kind === Track.Kind.Audio) watchAudio(track, p);
      else watchVideo(track, p);
    });
    room.on(RoomEvent.EncryptionError, (e) => event(`encryption error ${String(e)}`));
    room.on(RoomEvent.Disconnected, () => event("disconnected"));
    room.on(RoomEvent.ParticipantDisconnected, (p) => event(`left ${p.identity}`));
    if (e2ee) await room.setE2EEEnabled(true);
    await room.connect(url, jwt);
    const osc = audio.createOscillator();
    osc.frequency.value = toneHz;
    const dest = audio.createMediaStreamDestination();
    osc.connect(dest);
    osc.start();
    const mic = dest.stream.getAudioTracks()[0];
    if (!mic) throw new Error("no oscillator track");
    await room.localParticipant.publishTrack(new LocalAudioTrack(mic, undefined, false, audio));
    if (withVideo)
      await room.localParticipant.publishTrack(
        await createLocalVideoTrack({ resolution: { width: 320, height: 240 } }),
      );
  },
  setKey(identity: string, keyB64: string, index: number): Promise<void> {
    return keys.setKey(identity, keyB64, index);
  },
  async disconnect(): Promise<void> {
    await room?.disconnect();
  },
  async state(): Promise<{
    connected: boolean;
    e2ee: boolean;
    remotes: Record<string, RemoteStats>;
    events: string[];
    sent: { audio: number; video: number };
  }> {
    const sent = { audio: 0, video: 0 };
    for (const pub of room?.localParticipant.trackPublications.values() ?? []) {
      const track = pub.track;
      if (track instanceof LocalAudioTrack) sent.audio += (await track.getSenderStats())?.packetsSent ?? 0;
      else if (track instanceof LocalVideoTrack)
        for (const layer of await track.getSenderStats()) sent.video += layer.packetsSent ?? 0;
    }
    return {
      connected: room?.state === "connected",
      e2ee: room?.isE2EEEnabled ?? false,
      remotes: Object.fromEntries(remotes),
      events: [...events],
      sent,
    };
  },
};

(window as unknown as { rtcPage: typeof api }).rtcPage = api;
