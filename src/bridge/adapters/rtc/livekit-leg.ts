// The ghost's connection to the LiveKit SFU of a MatrixRTC call, with Element Call's
// per-participant end-to-end media encryption, through @livekit/rtc-node (libwebrtc in a native
// binary). rtc-node's own KeyProvider.setKey sends the FFI no key bytes (1.1.0: it fills only
// participantIdentity and keyIndex), so per-participant keys are set with a direct
// SetKeyRequest through the same FFI (livekitFfiRequest of @livekit/rtc-ffi-bindings).
// Element Call derives frame keys with HKDF (livekit-client createKeyMaterialFromBuffer,
// salt "LKFrameEncryptionKey"); the FFI's key provider is told to do the same.
//
// rtc-node hands out decoded PCM and decoded video frames, and takes PCM to send: the media is
// decoded and re-encoded here (see docs/ARCHITECTURE.md, "MatrixRTC calls").
import { dirname, join } from "node:path";
import {
  AudioFrame,
  AudioSource,
  AudioStream,
  LocalAudioTrack,
  LocalVideoTrack,
  Room,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource,
  VideoBufferType,
  VideoFrame,
  VideoSource,
  VideoStream,
  type RemoteParticipant,
  type RemoteTrack,
} from "@livekit/rtc-node";
import {
  E2eeRequest,
  EncryptionType,
  FfiRequest,
  KeyDerivationFunction,
  SetKeyRequest,
  livekitFfiRequest,
} from "@livekit/rtc-ffi-bindings";

// rtc-node logs at debug to stdout unless NODE_ENV is "production", and exports no way to
// change it: its logger is reached by file path (package exports hide it) and set to warn.
try {
  const lib = dirname(require.resolve("@livekit/rtc-node"));
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a file path, not a module id
  (require(join(lib, "log.cjs")) as { log: { level: string } }).log.level = "warn";
} catch {
  // another layout: rtc-node stays chatty, which is only noise
}

export const RATCHET_SALT = "LKFrameEncryptionKey";
export const SAMPLE_RATE = 48_000;
const FRAME_SAMPLES = SAMPLE_RATE / 100; // 10 ms frames, what libwebrtc takes
const VIDEO_WIDTH = 640;
const VIDEO_HEIGHT = 480;
/** A participant's video that decodes nothing this long after a key of theirs is subscribed again. */
const KEY_VIDEO_GRACE_MS = 3_000;
/** Later looks at video that still decodes nothing back off to this. */
const KEY_VIDEO_RETRY_MAX_MS = 15_000;
/**
 * Between a refresh's unsubscribe and its subscribe, a share of the look's delay (0.5 s at the
 * first): the SFU must have carried out the unsubscribe first, or it takes the pair for no change.
 */
const RESUBSCRIBE_GAP_SHARE = 6;

/** A raw I420 frame (what the People leg's libwebrtc takes and gives). */
export interface LegVideoFrame {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface LivekitLegEvents {
  audio(identity: string, pcm: Int16Array, sampleRate: number): void;
  video(identity: string, frame: LegVideoFrame): void;
  left(identity: string): void;
}

export interface LivekitLegOptions {
  /** Publish a camera track too, fed by sendVideo (its size is the first frame's). */
  video?: boolean;
  /**
   * Element Call's per-participant frame encryption (default on). Off in an unencrypted room,
   * where Element Call encrypts nothing (its E2eeType.NONE) and sends no keys.
   */
  e2ee?: boolean;
}

type Handlers = { [K in keyof LivekitLegEvents]: LivekitLegEvents[K][] };

/** One participant's LiveKit connection: publishes PCM it is given, reports what it receives. */
export class LivekitLeg {
  private readonly room = new Room();
  private readonly source = new AudioSource(SAMPLE_RATE, 1, 1000);
  private video: VideoSource | undefined;
  private readonly handlers: Handlers = { audio: [], video: [], left: [] };
  /**
   * What the video did, for a call whose video does not come through: subscriptions asked again
   * because their video decoded nothing (refreshVideo), subscriptions, decoded frames, stream errors.
   */
  readonly videoStats = { refreshes: 0, subscribed: 0, frames: 0, streamErrors: 0, lastStreamError: "" };
  private closed = false;
  private pending = new Int16Array(0);
  /** When each participant's video last decoded a frame here. */
  private readonly videoAt = new Map<string, number>();
  /** Tracks unsubscribed: what their stream still hands out is no decoded video. */
  private readonly ended = new WeakSet<RemoteTrack>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** The pending look at each participant's video after their newest key (watchVideo). */
  private readonly watches = new Map<string, NodeJS.Timeout>();

  on<K extends keyof LivekitLegEvents>(event: K, handler: LivekitLegEvents[K]): void {
    this.handlers[event].push(handler);
  }

  async connect(url: string, jwt: string, o: LivekitLegOptions = {}): Promise<void> {
    this.room.on(RoomEvent.TrackSubscribed, (track: RemoteTrack, _pub, p: RemoteParticipant) => {
      // A stream that fails ends that track's media, never the process.
      if (track.kind === TrackKind.KIND_AUDIO) this.pumpAudio(track, p.identity).catch(() => undefined);
      else if (track.kind === TrackKind.KIND_VIDEO) {
        this.videoStats.subscribed++;
        this.pumpVideo(track, p.identity).catch((err: unknown) => {
          this.videoStats.streamErrors++;
          this.videoStats.lastStreamError = String(err).slice(0, 200);
        });
      }
    });
    this.room.on(RoomEvent.TrackUnsubscribed, (track: RemoteTrack) => {
      this.ended.add(track);
    });
    this.room.on(RoomEvent.ParticipantDisconnected, (p: RemoteParticipant) => {
      for (const h of this.handlers.left) h(p.identity);
    });
    await this.room.connect(url, jwt, {
      autoSubscribe: true,
      dynacast: false,
      ...(o.e2ee === false
        ? {}
        : {
            encryption: {
              encryptionType: EncryptionType.GCM,
              keyProviderOptions: {
                ratchetSalt: new TextEncoder().encode(RATCHET_SALT),
                ratchetWindowSize: 10,
                keyRingSize: 256,
                failureTolerance: -1,
                keyDerivationFunction: KeyDerivationFunction.HKDF,
              },
            },
          }),
    });
    const track = LocalAudioTrack.createAudioTrack("bridge-audio", this.source);
    const options = new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE });
    await this.room.localParticipant?.publishTrack(track, options);
    if (o.video) {
      this.video = new VideoSource(VIDEO_WIDTH, VIDEO_HEIGHT);
      const camera = LocalVideoTrack.createVideoTrack("bridge-video", this.video);
      await this.room.localParticipant?.publishTrack(
        camera,
        new TrackPublishOptions({ source: TrackSource.SOURCE_CAMERA, simulcast: false }),
      );
    }
  }

  /** Sends one I420 frame on the camera track (connect with `video`); other frames are dropped. */
  sendVideo(frame: LegVideoFrame): void {
    if (!this.video || this.closed) return;
    if (frame.data.length !== (frame.width * frame.height * 3) / 2) return;
    this.video.captureFrame(new VideoFrame(frame.data, frame.width, frame.height, VideoBufferType.I420));
  }

  /** A participant's media key (the ghost's own included), as Element Call hands them to LiveKit. */
  setKey(identity: string, key: Uint8Array, index: number): void {
    // The room's FFI handle is private in rtc-node 1.1; the E2EE request needs it.
    const handle = (this.room as unknown as { ffiHandle?: { handle: bigint } }).ffiHandle?.handle;
    if (handle === undefined) throw new Error("not connected");
    const req = new FfiRequest({
      message: {
        case: "e2ee",
        value: new E2eeRequest({
          roomHandle: handle,
          message: {
            case: "setKey",
            value: new SetKeyRequest({ participantIdentity: identity, key, keyIndex: index }),
          },
        }),
      },
    });
    livekitFfiRequest(req.toBinary());
    this.watchVideo(identity, Date.now(), KEY_VIDEO_GRACE_MS);
  }

  /**
   * Video that decodes nothing after a key: the keyframe the SFU sent when the leg subscribed may
   * have come before the key and been dropped undecrypted, and without a keyframe nothing decodes
   * (seen once in three runs with Chromium: Alice's camera never decoded while her audio did).
   * Subscribing again makes the SFU ask the sender for a fresh keyframe, which the key now opens.
   * The subscribe waits `gapMs` after the unsubscribe: sent together (as this leg once did, on the
   * local unsubscribe event, which rtc-node may fire before the SFU has the request), the SFU keeps
   * its subscription as it was while rtc-node has dropped the track, and that video never came back.
   */
  private refreshVideo(identity: string, gapMs: number): void {
    const p = this.room.remoteParticipants.get(identity);
    for (const pub of p?.trackPublications.values() ?? []) {
      if (pub.kind !== TrackKind.KIND_VIDEO || pub.muted) continue;
      this.videoStats.refreshes++;
      if (pub.track) this.ended.add(pub.track);
      pub.setSubscribed(false);
      this.later(gapMs, () => {
        // Not for a publication gone meanwhile (they left, or unpublished): its handle is freed.
        if (this.room.remoteParticipants.get(identity)?.trackPublications.get(pub.sid ?? "") !== pub) return;
        pub.setSubscribed(true);
      });
    }
  }

  /** Runs `fn` after `ms` unless the leg closed meanwhile. */
  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  /**
   * Looks at the participant's video `delay` after their key set at `at`: while it has decoded
   * nothing since, it is subscribed again, and looked at again later (backing off), so one lost
   * keyframe or one unfinished resubscription does not leave the call without that video. A newer
   * key of theirs takes the place of the look; it ends once their video decodes, when they have no
   * video published, or when they left.
   */
  private watchVideo(identity: string, at: number, delay: number): void {
    const prior = this.watches.get(identity);
    if (prior) {
      clearTimeout(prior);
      this.timers.delete(prior);
    }
    const t = this.later(delay, () => {
      this.watches.delete(identity);
      if ((this.videoAt.get(identity) ?? 0) >= at) return;
      const pubs = [...(this.room.remoteParticipants.get(identity)?.trackPublications.values() ?? [])];
      if (!pubs.some((pub) => pub.kind === TrackKind.KIND_VIDEO)) return;
      this.refreshVideo(identity, delay / RESUBSCRIBE_GAP_SHARE);
      this.watchVideo(identity, at, Math.min(delay * 2, KEY_VIDEO_RETRY_MAX_MS));
    });
    this.watches.set(identity, t);
  }

  /** Sends mono 48 kHz PCM, in 10 ms frames. */
  async sendPcm(pcm: Int16Array): Promise<void> {
    const all = new Int16Array(this.pending.length + pcm.length);
    all.set(this.pending);
    all.set(pcm, this.pending.length);
    let at = 0;
    for (; at + FRAME_SAMPLES <= all.length; at += FRAME_SAMPLES) {
      await this.source.captureFrame(
        new AudioFrame(all.slice(at, at + FRAME_SAMPLES), SAMPLE_RATE, 1, FRAME_SAMPLES),
      );
    }
    this.pending = all.slice(at);
  }

  private async pumpAudio(track: RemoteTrack, identity: string): Promise<void> {
    // The loop holds the stream's reader (cancel() would be refused): leaving the loop releases it.
    const stream = new AudioStream(track, { sampleRate: SAMPLE_RATE, numChannels: 1 });
    for await (const frame of stream) {
      if (this.closed) break;
      for (const h of this.handlers.audio) h(identity, frame.data, frame.sampleRate);
    }
  }

  private async pumpVideo(track: RemoteTrack, identity: string): Promise<void> {
    const stream = new VideoStream(track);
    for await (const event of stream) {
      if (this.closed) break;
      // An ending track's stream hands out one last 8×8 frame: not video from the sender.
      if (this.ended.has(track)) continue;
      this.videoStats.frames++;
      this.videoAt.set(identity, Date.now());
      if (this.handlers.video.length === 0) continue;
      const f =
        event.frame.type === VideoBufferType.I420 ? event.frame : event.frame.convert(VideoBufferType.I420);
      const frame = { width: f.width, height: f.height, data: f.data };
      for (const h of this.handlers.video) h(identity, frame);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    await this.source.close();
    await this.video?.close();
    await this.room.disconnect();
  }
}
