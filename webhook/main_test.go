package webhook_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// envReceiver makes this test binary a webhook receiver that answers 204 at once (for benchmarks, so
// its work is not the engine's process's).
const envReceiver = "VMMPM_BENCH_RECEIVER"

func TestMain(m *testing.M) {
	if os.Getenv(envReceiver) != "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("listening on http://%s\n", ln.Addr())
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// startReceiver runs the receiver in its own process and returns its URL.
func startReceiver(tb testing.TB) string {
	tb.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envReceiver+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		tb.Fatalf("the receiver said %q: %v", line, err)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
}
