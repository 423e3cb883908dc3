// Which media an SDP answer carries (PROTOCOL §11.3.1): a device that cannot
// take video refuses the video m-line (port 0), leaves it inactive, or omits it.
import assert from "node:assert/strict";
import fc from "fast-check";
import { sdpCarriesVideo } from "../../src/people/protocol/sdp-media.js";

const head = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
const audio = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendrecv\r\n";
const video = (port: string, direction: string) =>
  `m=video ${port} UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=${direction}\r\n`;

describe("sdpCarriesVideo", () => {
  it("a live video m-line carries video, whatever its direction but inactive", () => {
    for (const d of ["sendrecv", "sendonly", "recvonly"])
      assert.equal(sdpCarriesVideo(head + audio + video("9", d)), true, d);
    assert.equal(sdpCarriesVideo(head + video("9", "sendrecv") + audio), true);
  });

  it("a refused (port 0), inactive or absent video m-line does not", () => {
    assert.equal(sdpCarriesVideo(head + audio + video("0", "sendrecv")), false);
    assert.equal(sdpCarriesVideo(head + audio + video("9", "inactive")), false);
    assert.equal(sdpCarriesVideo(head + audio), false);
    assert.equal(sdpCarriesVideo(""), false);
    // The inactive line of the audio section says nothing about video.
    assert.equal(
      sdpCarriesVideo(head + audio.replace("sendrecv", "inactive") + video("9", "sendrecv")),
      true,
    );
  });

  it("property: never throws, and a port-0 or inactive video section is never counted", () => {
    const line = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom(
        "m=video 0 RTP/SAVPF 96",
        "m=video 9 RTP/SAVPF 96",
        "m=audio 9 x",
        "a=inactive",
        "m=video",
      ),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 20 }), fc.constantFrom("\n", "\r\n"), (lines, eol) => {
        const sdp = lines.join(eol);
        const result = sdpCarriesVideo(sdp);
        assert.equal(typeof result, "boolean");
        const refused = lines.filter((l) => !l.trim().startsWith("m=")).join(eol);
        // With every m-line a refused video one, nothing carries video.
        const allRefused = `${refused}${eol}m=video 0 RTP/SAVPF 96${eol}${refused}`;
        assert.equal(sdpCarriesVideo(allRefused), false);
        assert.equal(sdpCarriesVideo(`m=video 9 RTP/SAVPF 96${eol}a=inactive${eol}${refused}`), false);
      }),
    );
  });
});
