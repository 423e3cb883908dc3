package relay

// vp8Payloads splits a VP8 frame into RTP payloads (RFC 7741) that all carry the frame's
// 15-bit picture ID. pion's VP8Payloader leaves the ID out of frame 0 (and again after every
// wrap), which makes libwebrtc's receiver see a gap after the first keyframe and stall until the
// next one; receivers need the ID on every frame to tell frames apart.
func vp8Payloads(pictureID uint16, frame []byte, mtu int) [][]byte {
	const header = 4 // descriptor byte, X byte, 2 picture-ID bytes
	room := mtu - header
	if room <= 0 || len(frame) == 0 {
		return nil
	}
	var out [][]byte
	for start := 0; start < len(frame); start += room {
		end := min(start+room, len(frame))
		p := make([]byte, header+end-start)
		p[0] = 0x80 // X: extensions follow
		if start == 0 {
			p[0] |= 0x10 // S: start of the frame's first partition (PID 0)
		}
		p[1] = 0x80                           // I: picture ID present
		p[2] = 0x80 | byte(pictureID>>8)&0x7f // M: 15-bit picture ID
		p[3] = byte(pictureID)
		copy(p[header:], frame[start:end])
		out = append(out, p)
	}
	return out
}
