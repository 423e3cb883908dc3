package relay

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/people-network/matrix-appservice-people/rtc-relay/framecrypt"
)

const (
	mtu = 1200
	// A VP8 frame with a packet missing is given up after maxLate later packets or
	// maxFrameDelay, whichever comes first (NACK usually fills the gap well before).
	maxLate       = 128
	maxFrameDelay = 500 * time.Millisecond
)

func newVP8Builder() *samplebuilder.SampleBuilder {
	return samplebuilder.New(maxLate, &codecs.VP8Packet{}, 90000, samplebuilder.WithMaxTimeDelay(maxFrameDelay))
}

// frameOut packetizes whole frames onto one outgoing track with its own sequence numbers,
// keeping the source's RTP timestamps (the timing passes through as the payload does).
type frameOut struct {
	mu        sync.Mutex
	write     func(*rtp.Packet) error
	seq       uint16
	vp8       bool
	pictureID uint16
}

func newFrameOut(write func(*rtp.Packet) error, vp8 bool) *frameOut {
	r := randomUint32()
	return &frameOut{write: write, seq: uint16(r), vp8: vp8, pictureID: uint16(r>>16) & 0x7fff}
}

func (o *frameOut) writeFrame(frame []byte, ts uint32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	payloads := [][]byte{frame}
	if o.vp8 {
		payloads = vp8Payloads(o.pictureID, frame, mtu)
		o.pictureID = (o.pictureID + 1) & 0x7fff
	}
	for i, p := range payloads {
		pkt := &rtp.Packet{Header: rtp.Header{
			Version: 2, SequenceNumber: o.seq, Timestamp: ts, Marker: o.vp8 && i == len(payloads)-1,
		}, Payload: p}
		o.seq++
		// An unbound track (leg not connected yet) drops it; that is what we want.
		_ = o.write(pkt)
	}
}

func randomUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

func isVideo(track *webrtc.TrackRemote) bool { return track.Kind() == webrtc.RTPCodecTypeVideo }

// pumpFromLiveKit carries the from identity's microphone and camera to People, decrypting.
// Other participants' and other sources' tracks are read and dropped.
func (c *Call) pumpFromLiveKit(track *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
	identity := rp.Identity()
	video := isVideo(track)
	wanted := (video && pub.Source() != livekit.TrackSource_SCREEN_SHARE && track.Codec().MimeType == webrtc.MimeTypeVP8) ||
		(!video && pub.Source() != livekit.TrackSource_SCREEN_SHARE_AUDIO && track.Codec().MimeType == webrtc.MimeTypeOpus)
	out := c.peopleAudio
	if video {
		out = c.peopleVideo
		if wanted {
			c.mu.Lock()
			c.fromVideo[identity] = remoteVideo{rp: rp, track: track}
			c.mu.Unlock()
			if identity == c.fromIdentity() {
				c.requestLiveKitKeyframe()
			}
		}
	}
	if out == nil {
		wanted = false // a voice call carries no video
	}
	// Which tracks the leg took is what a silent direction is read from first.
	c.log.Info("LiveKit track subscribed", "identity", identity, "video", video,
		"codec", track.Codec().MimeType, "carried", wanted)
	kind := framecrypt.Audio
	var sb *samplebuilder.SampleBuilder
	if video {
		kind = framecrypt.VP8
		sb = newVP8Builder()
	}
	if video && wanted {
		defer func() { // keyframe requests must not go to a track that has ended
			c.mu.Lock()
			if c.fromVideo[identity].track == track {
				delete(c.fromVideo, identity)
			}
			c.mu.Unlock()
		}()
	}
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		if !wanted || identity != c.fromIdentity() {
			continue
		}
		if !video {
			c.toPeople(identity, kind, out, pkt.Payload, pkt.Timestamp)
			continue
		}
		sb.Push(pkt)
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			c.toPeople(identity, kind, out, s.Data, s.PacketTimestamp)
		}
	}
}

func (c *Call) toPeople(identity string, kind framecrypt.Kind, out *frameOut, frame []byte, ts uint32) {
	if len(frame) == 0 {
		return // DTX: nothing to carry
	}
	frame, ok := c.openFrame(identity, kind, frame)
	if !ok {
		return
	}
	out.writeFrame(frame, ts)
	if kind == framecrypt.VP8 {
		c.stats.toPeopleVideo.Add(1)
		c.firstFrame("toPeople", "video")
	} else {
		c.stats.toPeopleAudio.Add(1)
		c.firstFrame("toPeople", "audio")
	}
}

// openFrame removes the frame encryption of a LiveKit frame (when the room uses it).
func (c *Call) openFrame(identity string, kind framecrypt.Kind, frame []byte) ([]byte, bool) {
	lk := c.liveKit()
	if lk == nil {
		return nil, false // tracks can arrive before connect has set the leg up: E2EE unknown
	}
	if !lk.e2ee {
		if kind == framecrypt.VP8 && framecrypt.IsVP8Keyframe(frame) {
			c.setVideoOK(true)
		}
		return frame, true
	}
	if payload, injected, known := framecrypt.ServerInjected(frame, lk.sif); injected {
		return payload, known
	}
	c.mu.Lock()
	ring := c.keys[identity]
	c.mu.Unlock()
	var plain []byte
	err := framecrypt.ErrMissingKey
	if ring != nil {
		plain, err = ring.Decrypt(kind, frame)
	}
	if kind == framecrypt.VP8 && (err != nil || framecrypt.IsVP8Keyframe(frame)) {
		c.setVideoOK(err == nil)
	}
	if err != nil {
		c.stats.decryptFailures.Add(1)
		c.firstUnopened(identity, kind, err)
		return nil, false
	}
	c.opened(identity, kind)
	return plain, true
}

// pumpFromPeople carries Joe's audio and video to the ghost's LiveKit tracks, encrypting.
func (c *Call) pumpFromPeople(track *webrtc.TrackRemote) {
	video := isVideo(track)
	kind := framecrypt.Audio
	var sb *samplebuilder.SampleBuilder
	if video {
		kind = framecrypt.VP8
		sb = newVP8Builder()
		c.mu.Lock()
		c.peopleVideoIn = track
		c.mu.Unlock()
	}
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		if !video {
			c.toMatrix(kind, pkt.Payload, pkt.Timestamp)
			continue
		}
		sb.Push(pkt)
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			c.toMatrix(kind, s.Data, s.PacketTimestamp)
		}
	}
}

func (c *Call) toMatrix(kind framecrypt.Kind, frame []byte, ts uint32) {
	lk := c.liveKit()
	if lk == nil || len(frame) == 0 {
		return // not joined yet, or DTX
	}
	out, lt := lk.audio, lk.audioTrack
	if kind == framecrypt.VP8 {
		out, lt = lk.video, lk.videoTrack
	}
	if out == nil {
		return
	}
	if lk.e2ee {
		var ok bool
		if frame, ok = c.sealFrame(lk, kind, frame, uint32(lt.SSRC()), ts); !ok {
			return
		}
	}
	out.writeFrame(frame, ts)
	if kind == framecrypt.VP8 {
		c.stats.toMatrixVideo.Add(1)
		c.firstFrame("toMatrix", "video")
	} else {
		c.stats.toMatrixAudio.Add(1)
		c.firstFrame("toMatrix", "audio")
	}
}

// sealFrame encrypts with the ghost's current key; without one the frame cannot be sent.
func (c *Call) sealFrame(lk *liveKit, kind framecrypt.Kind, frame []byte, ssrc, ts uint32) ([]byte, bool) {
	c.mu.Lock()
	ring := c.keys[lk.identity]
	var iv [framecrypt.IVLength]byte
	if ring != nil {
		iv = c.iv.Next(ssrc, ts)
	}
	c.mu.Unlock()
	if ring == nil {
		return nil, false
	}
	aead, index, ok := ring.Current()
	if !ok {
		return nil, false
	}
	out, err := framecrypt.Encrypt(aead, index, kind, frame, iv)
	return out, err == nil
}

func (c *Call) setVideoOK(ok bool) {
	c.mu.Lock()
	c.videoOK = ok
	c.mu.Unlock()
}

// unopenedKey names one participant's audio or video in Call.unopened.
type unopenedKey struct {
	identity string
	kind     framecrypt.Kind
}

// firstUnopened logs the first frame of each identity and kind that could not be opened, and
// each later one whose reason differs (a missing key, then a wrong one); the reason names no key.
func (c *Call) firstUnopened(identity string, kind framecrypt.Kind, err error) {
	if prev, seen := c.unopened.Swap(unopenedKey{identity, kind}, err.Error()); seen && prev == err.Error() {
		return
	}
	c.log.Info("a LiveKit frame could not be opened", "identity", identity, "video", kind == framecrypt.VP8,
		"reason", err.Error())
}

// opened logs the first frame that opened after frames of that identity and kind could not.
func (c *Call) opened(identity string, kind framecrypt.Kind) {
	if _, was := c.unopened.LoadAndDelete(unopenedKey{identity, kind}); was {
		c.log.Info("LiveKit frames open now", "identity", identity, "video", kind == framecrypt.VP8)
	}
}
