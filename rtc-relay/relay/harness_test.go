package relay

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
)

// The repo's TypeScript test harness builds livekit-server into .cache (test/helpers/livekit.ts).
const liveKitBinary = "../../.cache/livekit/livekit-server-v1.11.0"

type liveKitServer struct {
	url, key, secret string
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startLiveKit runs livekit-server on loopback with a fresh key, as the TypeScript harness does.
func startLiveKit(t *testing.T) *liveKitServer {
	t.Helper()
	bin, err := filepath.Abs(liveKitBinary)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skip("livekit-server is not built here (the TypeScript LiveKit tests build it into .cache/livekit)")
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	s := &liveKitServer{key: "devrelay", secret: hex.EncodeToString(secret)}
	port, tcpPort, udpPort := freePort(t), freePort(t), freePort(t)
	dir := t.TempDir()
	config := fmt.Sprintf(`port: %d
bind_addresses: ["127.0.0.1"]
rtc:
  tcp_port: %d
  udp_port: %d
  use_external_ip: false
  node_ip: 127.0.0.1
  enable_loopback_candidate: true
keys:
  %s: %s
logging:
  level: warn
`, port, tcpPort, udpPort, s.key, s.secret)
	cfg := filepath.Join(dir, "livekit.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "livekit.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfg, "--bind", "127.0.0.1")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = logFile.Close()
	})
	s.url = fmt.Sprintf("ws://127.0.0.1:%d", port)
	httpURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(60 * time.Second); ; {
		select {
		case <-exited:
			t.Fatal("livekit-server exited while starting")
		default:
		}
		if res, err := client.Get(httpURL); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("livekit-server did not answer within 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *liveKitServer) token(t *testing.T, room, identity string) string {
	t.Helper()
	at := auth.NewAccessToken(s.key, s.secret).SetIdentity(identity).SetValidFor(time.Hour)
	at.SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: room})
	jwt, err := at.ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	return jwt
}
