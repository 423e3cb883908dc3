package relay

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

func TestVP8PayloadsCarryPictureIDOnEveryPacket(t *testing.T) {
	frame := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 700) // 4900 bytes: 5 packets at mtu 1200
	for _, id := range []uint16{0, 1, 127, 128, 0x7fff} {
		payloads := vp8Payloads(id, frame, mtu)
		if len(payloads) != 5 {
			t.Fatalf("id %d: %d packets", id, len(payloads))
		}
		var joined []byte
		for i, p := range payloads {
			if len(p) > mtu {
				t.Fatalf("packet of %d bytes over the mtu", len(p))
			}
			var d codecs.VP8Packet
			body, err := d.Unmarshal(p)
			if err != nil {
				t.Fatal(err)
			}
			if d.I != 1 || d.PictureID != id || d.PID != 0 || (d.S == 1) != (i == 0) {
				t.Fatalf("id %d packet %d: I=%d PictureID=%d PID=%d S=%d", id, i, d.I, d.PictureID, d.PID, d.S)
			}
			joined = append(joined, body...)
		}
		if !bytes.Equal(joined, frame) {
			t.Fatalf("id %d: frame not reassembled", id)
		}
	}
	if vp8Payloads(1, nil, mtu) != nil {
		t.Fatal("empty frame gave packets")
	}
}

func TestFrameOutNumbersPicturesAndPackets(t *testing.T) {
	var got []struct {
		seq    uint16
		marker bool
		pid    uint16
	}
	o := newFrameOut(func(p *rtp.Packet) error {
		var d codecs.VP8Packet
		if _, err := d.Unmarshal(p.Payload); err != nil {
			t.Fatal(err)
		}
		got = append(got, struct {
			seq    uint16
			marker bool
			pid    uint16
		}{p.SequenceNumber, p.Marker, d.PictureID})
		return nil
	}, true)
	o.writeFrame(bytes.Repeat([]byte{9}, 2000), 100) // 2 packets
	o.writeFrame(bytes.Repeat([]byte{8}, 10), 3100)  // 1 packet
	if len(got) != 3 {
		t.Fatalf("%d packets", len(got))
	}
	if got[1].seq != got[0].seq+1 || got[2].seq != got[1].seq+1 {
		t.Fatal("sequence numbers not consecutive")
	}
	if got[0].marker || !got[1].marker || !got[2].marker {
		t.Fatal("marker must end each frame")
	}
	if got[0].pid != got[1].pid || got[2].pid != (got[0].pid+1)&0x7fff {
		t.Fatal("picture IDs must be per frame and consecutive")
	}
}
