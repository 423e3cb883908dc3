package relay

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

const turnBinary = "/usr/bin/turnserver" // Debian's coturn; .ci/run installs it

// startCoturn runs coturn on loopback with a REST-style shared secret, as test/helpers/coturn.ts.
func startCoturn(t *testing.T) (url, username, credential string) {
	t.Helper()
	if _, err := os.Stat(turnBinary); err != nil {
		t.Skip("coturn is not installed here")
	}
	dir := t.TempDir()
	port := freeUDPPort(t)
	secretBytes := make([]byte, 24)
	_, _ = rand.Read(secretBytes)
	secret := base64.RawURLEncoding.EncodeToString(secretBytes)
	minPort := 30000 + int(binary.BigEndian.Uint16(secretBytes)%300)*100
	cmd := exec.Command(turnBinary, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
		fmt.Sprintf("--listening-port=%d", port), fmt.Sprintf("--min-port=%d", minPort), fmt.Sprintf("--max-port=%d", minPort+99),
		"--use-auth-secret", "--static-auth-secret="+secret, "--realm=people.test", "--allow-loopback-peers",
		"--no-tls", "--no-dtls", "--no-cli", "--no-multicast-peers",
		"--userdb="+filepath.Join(dir, "turndb"), "--pidfile="+filepath.Join(dir, "turnserver.pid"),
		"--simple-log", "--log-file="+filepath.Join(dir, "turn.log"))
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
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(30 * time.Second); !stunAnswers(port); {
		select {
		case <-exited:
			t.Fatal("coturn exited while starting")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("coturn did not answer STUN within 30 s")
		}
	}
	username = fmt.Sprintf("%d:joe", time.Now().Add(time.Hour).Unix())
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return fmt.Sprintf("turn:127.0.0.1:%d?transport=udp", port), username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func freeUDPPort(t *testing.T) int {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// stunAnswers: a STUN Binding request gets a success response within 500 ms.
func stunAnswers(port int) bool {
	c, err := net.Dial("udp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	defer c.Close()
	req := make([]byte, 20)
	binary.BigEndian.PutUint16(req[0:], 0x0001)
	binary.BigEndian.PutUint32(req[4:], 0x2112a442)
	_, _ = rand.Read(req[8:])
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write(req); err != nil {
		time.Sleep(100 * time.Millisecond)
		return false
	}
	resp := make([]byte, 512)
	n, err := c.Read(resp)
	return err == nil && n >= 20 && binary.BigEndian.Uint16(resp) == 0x0101 && string(resp[8:20]) == string(req[8:20])
}

// TestRelayOnlyPeopleLeg: with relayOnly the People leg offers only TURN candidates and still
// connects to Joe through coturn.
func TestRelayOnlyPeopleLeg(t *testing.T) {
	url, user, cred := startCoturn(t)
	d := newDriver(t)
	joe := newJoeWith(t, d, "t1", false, map[string]any{
		"iceServers": []any{map[string]any{"urls": []string{url}, "username": user, "credential": cred}},
		"relayOnly":  true,
	}, func(bool, []byte) {})
	joe.relayOffers()
	joe.mu.Lock()
	defer joe.mu.Unlock()
	if joe.candidates["relay"] == 0 {
		t.Fatalf("no relay candidates: %v", joe.candidates)
	}
	for typ, n := range joe.candidates {
		if typ != "relay" {
			t.Fatalf("%d %s candidates offered with relayOnly", n, typ)
		}
	}
}
