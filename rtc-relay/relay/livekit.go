package relay

import (
	"errors"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/people-network/matrix-appservice-people/rtc-relay/framecrypt"
	"github.com/people-network/matrix-appservice-people/rtc-relay/protocol"
)

// liveKit is the call's MatrixRTC leg: the ghost's participant and the tracks it publishes.
type liveKit struct {
	room       *lksdk.Room
	identity   string
	e2ee       bool
	sif        []byte
	audio      *frameOut
	audioTrack *lksdk.LocalTrack
	video      *frameOut // nil on a voice call
	videoTrack *lksdk.LocalTrack
}

type remoteVideo struct {
	rp    *lksdk.RemoteParticipant
	track *webrtc.TrackRemote
}

const connectTimeout = 20 * time.Second

func (c *Call) connect(req protocol.Request) error {
	if c.liveKit() != nil {
		return errors.New("already connected")
	}
	cb := lksdk.NewRoomCallback()
	cb.OnTrackSubscribed = func(track *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
		c.safeGo("livekit track", func() { c.pumpFromLiveKit(track, pub, rp) })
	}
	cb.OnParticipantDisconnected = func(rp *lksdk.RemoteParticipant) {
		defer c.recoverPanic("left")
		c.event("left", map[string]any{"identity": rp.Identity()})
	}
	cb.OnDisconnectedWithReason = func(reason lksdk.DisconnectionReason) {
		defer c.recoverPanic("disconnected")
		// Only a joined leg can be lost; a failed connect is answered with its error.
		if !c.isClosed() && c.liveKit() != nil {
			c.event("disconnected", map[string]any{"reason": string(reason)})
		}
	}
	// Only Opus and VP8 on the LiveKit leg too: a publisher with a VP8 backup codec (VP9 or AV1
	// first) is then sent VP8, which passes to People unchanged.
	room, err := lksdk.ConnectToRoomWithToken(req.URL, req.JWT, cb,
		lksdk.WithAutoSubscribe(true), lksdk.WithConnectTimeout(connectTimeout),
		lksdk.WithCodecs([]livekit.Codec{{Mime: webrtc.MimeTypeOpus}, {Mime: webrtc.MimeTypeVP8}}))
	if err != nil {
		return errors.New("LiveKit join failed: " + err.Error())
	}
	lk := &liveKit{room: room, identity: room.LocalParticipant.Identity(), e2ee: req.E2EE, sif: room.SifTrailer()}
	if err := c.publish(lk, req.Video); err != nil {
		room.Disconnect()
		return err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		room.Disconnect()
		return errors.New("call closed")
	}
	c.lk = lk
	c.mu.Unlock()
	c.log.Info("LiveKit leg joined", "e2ee", req.E2EE, "video", req.Video)
	c.requestPeopleKeyframe() // the SFU's subscribers start on a keyframe
	return nil
}

func (c *Call) publish(lk *liveKit, video bool) error {
	enc := livekit.Encryption_NONE
	if lk.e2ee {
		enc = livekit.Encryption_GCM
	}
	at, err := lksdk.NewLocalTrack(opusCodec)
	if err != nil {
		return err
	}
	if _, err := lk.room.LocalParticipant.PublishTrack(at, &lksdk.TrackPublicationOptions{
		Name: "microphone", Source: livekit.TrackSource_MICROPHONE, Encryption: enc,
	}); err != nil {
		return errors.New("publishing audio failed: " + err.Error())
	}
	lk.audioTrack = at
	lk.audio = newFrameOut(func(p *rtp.Packet) error { return at.WriteRTP(p, nil) }, false)
	if !video {
		return nil
	}
	vt, err := lksdk.NewLocalTrack(vp8Codec, lksdk.WithRTCPHandler(func(p rtcp.Packet) {
		defer c.recoverPanic("livekit rtcp")
		switch p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			c.requestPeopleKeyframe()
		}
	}))
	if err != nil {
		return err
	}
	if _, err := lk.room.LocalParticipant.PublishTrack(vt, &lksdk.TrackPublicationOptions{
		Name: "camera", Source: livekit.TrackSource_CAMERA, VideoWidth: 640, VideoHeight: 480, Encryption: enc,
	}); err != nil {
		return errors.New("publishing video failed: " + err.Error())
	}
	lk.videoTrack = vt
	lk.video = newFrameOut(func(p *rtp.Packet) error { return vt.WriteRTP(p, nil) }, true)
	return nil
}

// setKey stores a participant's media key. A new key for the from identity while its video
// is not decrypting asks for a keyframe: frames before it cannot be used anyway.
func (c *Call) setKey(identity string, key []byte, index uint8) error {
	c.mu.Lock()
	ring := c.keys[identity]
	if ring == nil {
		ring = framecrypt.NewKeyRing()
		c.keys[identity] = ring
	}
	c.mu.Unlock()
	if err := ring.SetKey(key, index); err != nil {
		return errors.New("key refused: " + err.Error())
	}
	c.mu.Lock()
	isFrom, stuck := identity == c.from, !c.videoOK
	own := c.lk != nil && identity == c.lk.identity
	c.mu.Unlock()
	if isFrom && stuck {
		c.safeGo("keyframe", c.keyframeUntilDecrypted)
	}
	if own {
		c.requestPeopleKeyframe() // frames were dropped while the ghost had no key
	}
	return nil
}

func (c *Call) setFrom(identity string) {
	c.mu.Lock()
	changed := c.from != identity
	c.from = identity
	if changed {
		c.videoOK = false
	}
	c.mu.Unlock()
	if changed {
		c.safeGo("keyframe", c.keyframeUntilDecrypted)
	}
}

// Keyframe requests are retried: the SFU drops a PLI that follows another within its throttle
// window (up to 1 s), and the frames before the next keyframe are of no use to Joe.
const (
	keyframeRetry    = time.Second
	keyframeAttempts = 5
)

// keyframeUntilDecrypted asks for the from identity's keyframe until one has come through
// (decrypted when E2EE), a few times at most; one loop per call at a time.
func (c *Call) keyframeUntilDecrypted() {
	c.mu.Lock()
	if c.keyframeLoop {
		c.mu.Unlock()
		return
	}
	c.keyframeLoop = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.keyframeLoop = false
		c.mu.Unlock()
	}()
	for range keyframeAttempts {
		c.requestLiveKitKeyframe()
		select {
		case <-c.done:
			return
		case <-time.After(keyframeRetry):
		}
		c.mu.Lock()
		ok := c.videoOK
		c.mu.Unlock()
		if ok {
			return
		}
	}
}

func (c *Call) fromIdentity() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.from
}

// requestLiveKitKeyframe asks the SFU for a keyframe of the from identity's camera track.
func (c *Call) requestLiveKitKeyframe() {
	c.mu.Lock()
	v, ok := c.fromVideo[c.from]
	c.mu.Unlock()
	if !ok {
		return
	}
	v.rp.WritePLI(v.track.SSRC())
	c.stats.keyframeRequests.Add(1)
}

// requestPeopleKeyframe sends a PLI to Joe's video sender.
func (c *Call) requestPeopleKeyframe() {
	c.mu.Lock()
	in := c.peopleVideoIn
	c.mu.Unlock()
	if in == nil {
		return
	}
	if err := c.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(in.SSRC())}}); err == nil {
		c.stats.keyframeRequests.Add(1)
	}
}

func (c *Call) readPeopleRTCP(sender *webrtc.RTPSender) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				c.requestLiveKitKeyframe()
			}
		}
	}
}
