// Runs in headless Chromium (bundled by esbuild, browser-call.ts): Alice as
// Element Web is, with matrix-js-sdk's own 1:1 call code (MatrixCall). Her
// microphone is a WebAudio oscillator (a tone of her own), her camera
// Chromium's fake device; what the far side sends is listened to with an
// AnalyserNode (headless Chromium reports no audio energy in its stats), and
// its video frames are counted as a video element presents them. The client
// runs matrix-js-sdk's Rust crypto, so in an encrypted room the call events go
// out Megolm-encrypted and come in decrypted, as in Element.
import {
  createClient,
  createNewMatrixCall,
  CallEvent,
  ClientEvent,
  MatrixEventEvent,
  SyncState,
  type MatrixCall,
  type MatrixClient,
  type MatrixEvent,
} from "matrix-js-sdk";
import { CallEventHandlerEvent } from "matrix-js-sdk/lib/webrtc/callEventHandler.js";

interface Status {
  callId: string | undefined;
  state: string | undefined;
  direction: string | undefined;
  hangupReason: string | undefined;
  hangupParty: string | undefined;
  /** A tone of this frequency was heard in the remote audio. */
  heard: boolean;
  incoming: string[];
  /** Incoming calls that ended (hung up by either side, or never answered). */
  endedIncoming: string[];
  remoteVideo: boolean;
  /** Video frames of the far side presented by a video element. */
  videoFrames: number;
  /** m.call.* events that arrived encrypted and were decrypted here. */
  decryptedCallEvents: number;
  errors: string[];
}

const status: Status = {
  callId: undefined,
  state: undefined,
  direction: undefined,
  hangupReason: undefined,
  hangupParty: undefined,
  heard: false,
  incoming: [],
  endedIncoming: [],
  remoteVideo: false,
  videoFrames: 0,
  decryptedCallEvents: 0,
  errors: [],
};
let client: MatrixClient | undefined;
let call: MatrixCall | undefined;
const incoming = new Map<string, MatrixCall>();
let listenHz = 0;
let audio: AudioContext | undefined;

/** Alice's microphone: an oscillator at `hz`; her camera: Chromium's fake device. */
function fakeMicrophone(hz: number): void {
  const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (c?: MediaStreamConstraints) => {
    const out = new MediaStream();
    if (c?.audio) {
      audio ??= new AudioContext();
      const osc = audio.createOscillator();
      osc.frequency.value = hz;
      const gain = audio.createGain();
      gain.gain.value = 0.5;
      const dest = audio.createMediaStreamDestination();
      osc.connect(gain).connect(dest);
      osc.start();
      for (const t of dest.stream.getAudioTracks()) out.addTrack(t);
    }
    if (c?.video) for (const t of (await real({ video: c.video })).getVideoTracks()) out.addTrack(t);
    return out;
  };
}

/** Listens to a remote stream for the far side's tone (five windows in a row with its bin on top). */
const listened = new WeakSet<MediaStream>();

function listen(stream: MediaStream): void {
  // FeedsChanged fires again for feeds already listened to.
  if (listened.has(stream)) return;
  listened.add(stream);
  if (stream.getVideoTracks().length > 0) {
    status.remoteVideo = true;
    const video = document.createElement("video");
    video.muted = true;
    video.srcObject = new MediaStream(stream.getVideoTracks());
    const count = () => {
      status.videoFrames++;
      video.requestVideoFrameCallback(count);
    };
    video.requestVideoFrameCallback(count);
    void video.play().catch(() => undefined);
  }
  if (stream.getAudioTracks().length === 0) return;
  audio ??= new AudioContext();
  // Chromium feeds a remote WebRTC stream to WebAudio only while a media element plays it.
  const sink = new Audio();
  sink.muted = true;
  sink.srcObject = stream;
  void sink.play().catch(() => undefined);
  const analyser = audio.createAnalyser();
  analyser.fftSize = 2048;
  audio.createMediaStreamSource(stream).connect(analyser);
  const bins = new Float32Array(analyser.frequencyBinCount);
  const target = Math.round((listenHz * analyser.fftSize) / audio.sampleRate);
  let run = 0;
  const timer = setInterval(() => {
    analyser.getFloatFrequencyData(bins);
    let best = 0;
    for (let i = 1; i < bins.length; i++) if (bins[i]! > bins[best]!) best = i;
    const strong = Math.abs(best - target) <= 1 && bins[best]! > -70;
    run = strong ? run + 1 : 0;
    if (run >= 5) {
      status.heard = true;
      clearInterval(timer);
    }
  }, 50);
}

function follow(c: MatrixCall): void {
  call = c;
  status.callId = c.callId;
  status.direction = c.direction;
  status.state = c.state;
  status.hangupReason = undefined;
  status.hangupParty = undefined;
  status.heard = false;
  status.remoteVideo = false;
  status.videoFrames = 0;
  // "ended" comes with the hangup's reason and party (the Hangup event), never before them.
  c.on(CallEvent.State, (s) => {
    if (s !== "ended") status.state = s;
  });
  c.on(CallEvent.Hangup, () => {
    status.state = "ended";
    status.hangupReason = c.hangupReason;
    status.hangupParty = c.hangupParty;
  });
  c.on(CallEvent.Error, (e) => status.errors.push(String(e?.message ?? e)));
  c.on(CallEvent.FeedsChanged, () => {
    for (const feed of c.getRemoteFeeds()) listen(feed.stream);
  });
}

const api = {
  async start(o: {
    baseUrl: string;
    userId: string;
    accessToken: string;
    deviceId: string;
    toneHz: number;
    listenHz: number;
  }) {
    fakeMicrophone(o.toneHz);
    listenHz = o.listenHz;
    client = createClient({
      baseUrl: o.baseUrl,
      userId: o.userId,
      accessToken: o.accessToken,
      deviceId: o.deviceId,
    });
    await client.initRustCrypto({ useIndexedDB: false });
    client.on(MatrixEventEvent.Decrypted, (e: MatrixEvent) => {
      if (e.isEncrypted() && !e.isDecryptionFailure() && e.getType().startsWith("m.call."))
        status.decryptedCallEvents++;
    });
    client.on(CallEventHandlerEvent.Incoming, (c: MatrixCall) => {
      incoming.set(c.callId, c);
      status.incoming.push(c.callId);
      c.on(CallEvent.Hangup, () => {
        incoming.delete(c.callId);
        status.endedIncoming.push(c.callId);
      });
    });
    const ready = new Promise<void>((resolve) =>
      client!.on(ClientEvent.Sync, (state) => {
        if (state === SyncState.Prepared || state === SyncState.Syncing) resolve();
      }),
    );
    await client.startClient({ initialSyncLimit: 1 });
    await ready;
    return client.supportsVoip();
  },
  async place(roomId: string, video: boolean, forceTURN = false) {
    // forceTURN: only relay candidates, from the homeserver's TURN (as Element's "fallback" setting).
    const c = createNewMatrixCall(client!, roomId, { forceTURN });
    if (!c) throw new Error("no WebRTC here");
    follow(c);
    if (video) await c.placeVideoCall();
    else await c.placeVoiceCall();
    return c.callId;
  },
  async answer(callId: string, video: boolean) {
    const c = incoming.get(callId);
    if (!c) throw new Error(`no incoming call ${callId}`);
    follow(c);
    await c.answer(true, video);
  },
  /** Relay-only for the calls that ring from now on (an incoming call's connection is made as it rings). */
  forceTurn(force: boolean) {
    client!.setForceTURN(force);
  },
  reject(callId: string) {
    const c = incoming.get(callId);
    if (!c) throw new Error(`no incoming call ${callId}`);
    follow(c);
    c.reject();
  },
  hangup() {
    call?.hangup("user_hangup" as never, false);
  },
  status: () => JSON.parse(JSON.stringify(status)) as Status,
};

(globalThis as unknown as { alice: typeof api }).alice = api;
