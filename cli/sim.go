package cli

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"vmmpm/vmm/sim"
)

// simFlags are `vmmpm sim`'s options; cfg takes the emulator's tunables directly.
type simFlags struct {
	listen, passwordFile string
	tls                  sim.TLS
	quirks               []string
	cfg                  sim.Config
}

func newSimCmd(a *app) *cobra.Command {
	f := &simFlags{}
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the VMmanager 6 emulator (seed data, tasks, failure injection) until interrupted",
		Long: "Run an in-memory VMmanager 6 on loopback. The first output line is `listening on http://HOST:PORT`;\n" +
			"with the default admin password the second line names the login. GET /sim/stats shows what it saw.\n" +
			"Seed: admin@example.com (@admin), cluster 1 kvm-main (pools on interfaces 0 and 1), cluster 2 lxd-main\n" +
			"(pool on interface 0 only), pools of --ipv4-pool-size addresses, OS 1-4, recipes 1-2, and (with\n" +
			"--history) VM 1 already deleted with its finished tasks. --quirk field:OLD=NEW renames a property in\n" +
			"every answer and --quirk task:OLD=NEW files tasks under another name, to see validate --deep notice;\n" +
			"--quirk interface:string (or interface:name) answers ip4[].interface as a string, as GO1 types it.\n" +
			"--seed-vms N starts with N VMs (legacy-0001, …) under five client accounts that no vmmpm database knows.\n" +
			"POST /sim/vm/ID/delete|stop|start|resize|owner|duplicate changes a VM behind vmmpm's back (no token),\n" +
			"POST /sim/seed-vms {\"count\":N} adds more VMs nobody ordered.\n" +
			"Stops on SIGINT or SIGTERM.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error { return a.runSim(c, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:0", "address to listen on (port 0 picks a free one)")
	fl.StringVar(&f.passwordFile, "admin-password-file", "", `file holding the admin password, "-" for stdin (default demo-password, printed)`)
	fl.DurationVar(&f.cfg.TaskTime, "task-time", 2*time.Second, "how long each VMmanager task runs before it completes")
	fl.DurationVar(&f.cfg.Latency, "latency", 0, "delay added to every API answer")
	fl.Float64Var(&f.cfg.FailRate, "fail-rate", 0, "share (0-1) of POST/DELETE calls answered 500")
	fl.IntVar(&f.cfg.SleepEvery, "sleep-every", 0, "every Nth request starts a burst of 503 answers (0 = never)")
	fl.IntVar(&f.cfg.SleepBurst, "sleep-burst", 3, "how many 503 answers a burst lasts")
	fl.DurationVar(&f.cfg.TokenTTL, "token-ttl", time.Hour, "lifetime of a session token")
	fl.Int64Var(&f.cfg.Seed, "seed", 0, "random seed for --fail-rate (0 = time-based)")
	fl.BoolVar(&f.tls.On, "tls", false, "serve HTTPS with a self-signed certificate made at start (its SHA-256 on the second line: tls_sha256=…)")
	fl.StringVar(&f.tls.CertFile, "tls-cert", "", "with --tls-key: serve this PEM certificate; when neither file exists, make one and write both there")
	fl.StringVar(&f.tls.KeyFile, "tls-key", "", "the PEM private key of --tls-cert")
	fl.IntVar(&f.cfg.IPv4PoolSize, "ipv4-pool-size", sim.DefaultIPv4PoolSize, "IPv4 addresses in each seed pool")
	fl.BoolVar(&f.cfg.History, "history", true, "start with a deleted VM's finished tasks listed (for validate --deep)")
	fl.IntVar(&f.cfg.SeedVMs, "seed-vms", 0, "start with this many VMs nobody ordered, under five client accounts (import candidates)")
	fl.IntVar(&f.cfg.ListLimit, "list-limit", 0, "cut every list answer to this many items, as a VMmanager paging its lists would (0 = no cut)")
	fl.StringArrayVar(&f.quirks, "quirk", nil, "depart from VMmanager on purpose: field:OLD=NEW, task:OLD=NEW, interface:string or interface:name (repeatable)")
	fl.BoolVar(&f.cfg.DeferPending, "defer-pending", false, "keep the task of a change deferred to a running VM's next stop pending until that stop")
	fl.BoolVar(&f.cfg.OneTaskPerVM, "one-task-per-vm", false, "refuse (409) a change of a VM while another of its tasks runs")
	return cmd
}

func (f *simFlags) validate() error {
	switch c := f.cfg; {
	case c.FailRate < 0 || c.FailRate > 1:
		return usagef("--fail-rate must be between 0 and 1, got %v", c.FailRate)
	case c.SleepEvery < 0:
		return usagef("--sleep-every cannot be negative")
	case c.SleepBurst < 1:
		return usagef("--sleep-burst must be at least 1")
	case c.TaskTime < 0 || c.Latency < 0:
		return usagef("--task-time and --latency cannot be negative")
	case c.TokenTTL <= 0:
		return usagef("--token-ttl must be positive")
	case c.IPv4PoolSize < 1 || c.IPv4PoolSize > 1<<20:
		return usagef("--ipv4-pool-size must be between 1 and %d, got %d", 1<<20, c.IPv4PoolSize)
	case c.SeedVMs < 0 || c.SeedVMs > c.IPv4PoolSize:
		return usagef("--seed-vms must be between 0 and the pool size (--ipv4-pool-size %d), got %d", c.IPv4PoolSize, c.SeedVMs)
	case c.ListLimit < 0:
		return usagef("--list-limit cannot be negative")
	}
	if (f.tls.CertFile == "") != (f.tls.KeyFile == "") {
		return usagef("--tls-cert and --tls-key go together: give both files (new paths make a certificate there)")
	}
	f.tls.On = f.tls.On || f.tls.CertFile != ""
	for _, q := range f.quirks {
		qq, err := sim.ParseQuirk(q)
		if err != nil {
			return usagef("--quirk: %v", err)
		}
		f.cfg.Quirks = append(f.cfg.Quirks, qq)
	}
	return nil
}

func (a *app) runSim(c *cobra.Command, f *simFlags) error {
	if err := f.validate(); err != nil {
		return err
	}
	out := a.stdout
	if f.passwordFile == "" {
		// The demo password is public, so it may be shown; one read from a file never is.
		out = &afterFirstLine{w: a.stdout, extra: "admin login admin@example.com password demo-password\n"}
	} else {
		pw, err := readPasswordFile(f.passwordFile, a.stdin)
		if err != nil {
			return err
		}
		f.cfg.AdminPassword = pw
	}
	if !isLoopbackListen(f.listen) {
		fmt.Fprintf(a.stderr, "vmmpm sim: warning: %s is reachable from other machines; the emulator is for testing and holds no real security\n", f.listen)
	}
	ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return sim.Serve(ctx, f.cfg, f.listen, f.tls, out)
}

// readPasswordFile returns the first line of path (or of stdin for "-").
func readPasswordFile(path string, stdin io.Reader) (string, error) {
	var r io.Reader = stdin
	if path != "-" {
		fh, err := os.Open(path)
		if err != nil {
			return "", usagef("cannot read the admin password file: %v", err)
		}
		defer fh.Close()
		r = fh
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", usagef("cannot read the admin password: %v", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", usagef("the admin password is empty; put it on the first line of --admin-password-file")
	}
	return line, nil
}

// isLoopbackListen reports whether a listen address only accepts connections from this machine.
func isLoopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// afterFirstLine passes writes through and adds extra once the first line is complete.
type afterFirstLine struct {
	w     io.Writer
	extra string
	done  bool
}

func (l *afterFirstLine) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if err == nil && !l.done && strings.Contains(string(p[:n]), "\n") {
		l.done = true
		_, err = io.WriteString(l.w, l.extra)
	}
	return n, err
}
