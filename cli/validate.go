package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"vmmpm/vmm"
)

// validateTimeout bounds the whole check (503 retries included), so a script never hangs on it.
const validateTimeout = 90 * time.Second

type validateOpts struct {
	url, user string
	insecure  bool
	asJSON    bool
	deep      bool
	record    string // --record DIR: masked answers of the deep check
	replay    string // --replay DIR: run the deep check on a recording instead of a VMmanager
	password  string // only to refuse it: there is no password flag
	pin       string // --tls-pin
	caFile    string // --ca-file
}

func newValidateCmd(a *app) *cobra.Command {
	var o validateOpts
	cmd := &cobra.Command{
		Use:   "validate --url URL --user EMAIL [--insecure] [--json] [--deep [--record DIR]] | --replay DIR",
		Short: "Log in to a VMmanager 6, check the account is an administrator and list its clusters",
		Long: "Reads the password from stdin (prompted without echo on a terminal). --deep also reads, without\n" +
			"changing anything, every endpoint, filter and field the engine relies on and prints a table of\n" +
			"probe, expected, seen, ok/differs; --record DIR keeps those answers with tokens, passwords, emails\n" +
			"and addresses masked, for a bug report; --replay DIR runs the deep check on such a folder.\n" +
			"Exit codes: 0 ok, 1 an answer that is not VMmanager 6's, 2 usage, 3 bad credentials, 4 not an\n" +
			"administrator, 5 unreachable, DNS or TLS failure, 6 --deep found a difference.",
		Args: cobra.ArbitraryArgs, // checked in RunE, after the password-flag refusal
		RunE: func(c *cobra.Command, args []string) error {
			if c.Flags().Changed("password") {
				return usagef("there is no --password flag: a password on the command line leaks into ps and shell history, so pipe it on stdin or type it at the prompt")
			}
			if len(args) > 0 {
				return usagef("validate takes no arguments, got %q", args[0])
			}
			if o.record != "" && !o.deep {
				return usagef("--record needs --deep: only the deep check reads answers worth keeping")
			}
			if o.replay != "" {
				return a.validateReplay(c.Context(), o)
			}
			return a.validate(c.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "", "VMmanager 6 address, e.g. https://vm.example.com")
	f.StringVar(&o.user, "user", "", "administrator email")
	f.BoolVar(&o.insecure, "insecure", false, "skip TLS certificate verification (self-signed VMmanager); --tls-pin is safer")
	f.StringVar(&o.pin, "tls-pin", "", "trust exactly the certificate with this SHA-256 fingerprint (64 hex digits, colons allowed)")
	f.StringVar(&o.caFile, "ca-file", "", "verify VMmanager's certificate against the CAs in this PEM file")
	f.BoolVar(&o.asJSON, "json", false, "print JSON")
	f.BoolVar(&o.deep, "deep", false, "read-only probes of every endpoint, filter and field the engine relies on")
	f.StringVar(&o.record, "record", "", "with --deep: write the answers, masked, to this folder")
	f.StringVar(&o.replay, "replay", "", "run the deep check on a folder --record wrote (no --url, --user or password)")
	f.StringVarP(&o.password, "password", "p", "", "refused: give the password on stdin")
	f.Lookup("password").NoOptDefVal = " "
	_ = f.MarkHidden("password")
	return cmd
}

// validateReport is the --json shape.
type validateReport struct {
	URL       string            `json:"url"`
	User      string            `json:"user"`
	LatencyMS float64           `json:"latency_ms"`
	Clusters  []validateCluster `json:"clusters"`
}

type validateCluster struct {
	ID                  uint64 `json:"id"`
	Name                string `json:"name"`
	Virtualization      string `json:"virtualization"`
	AdditionalInterface bool   `json:"additional_interface"`
}

func (a *app) validate(ctx context.Context, o validateOpts) error {
	switch {
	case o.url == "":
		return usagef("--url is required: give the VMmanager 6 address, e.g. --url https://vm.example.com")
	case o.user == "":
		return usagef("--user is required: give the administrator's email")
	}
	base, err := vmm.NormalizeURL(o.url)
	if err != nil {
		return withCode(exitUsage, described(err))
	}
	if err := validateTLSFlags(o); err != nil {
		return err
	}
	password, err := a.readPassword(o.user)
	if err != nil {
		return err
	}
	client, err := vmm.New(vmm.Config{URL: base, Email: o.user, Password: password, InsecureTLS: o.insecure,
		TLSPin: o.pin, CAFile: o.caFile, SessionTTL: time.Minute})
	if err != nil {
		return described(err)
	}
	ctx, cancel := context.WithTimeout(ctx, validateTimeout)
	defer cancel()
	if err := client.CheckAdmin(ctx); err != nil {
		return described(err)
	}
	if o.deep {
		return a.validateDeep(ctx, client, o)
	}
	start := time.Now()
	clusters, err := client.Clusters(ctx)
	if err != nil {
		return described(err)
	}
	rep := validateReport{URL: base, User: o.user, LatencyMS: roundMS(time.Since(start)), Clusters: []validateCluster{}}
	for _, c := range clusters {
		rep.Clusters = append(rep.Clusters, validateCluster{c.ID, c.Name, c.Virtualization, c.HasAdditionalInterface()})
	}
	return printValidate(a.stdout, rep, o.asJSON)
}

// validateTLSFlags refuses a malformed pin or an unusable CA file before the password is asked.
func validateTLSFlags(o validateOpts) error {
	if _, err := vmm.ParsePin(o.pin); err != nil {
		return usagef("--tls-pin must be the certificate's SHA-256 fingerprint: 64 hex digits, colons allowed")
	}
	if o.caFile == "" {
		return nil
	}
	if _, err := vmm.LoadCAFile(o.caFile); err != nil {
		return usagef("--ca-file: %s", strings.TrimSuffix(err.Error(), "."))
	}
	return nil
}

// validateDeep runs vmm.DeepCheck, prints its table and writes the record; a difference is exit 6.
func (a *app) validateDeep(ctx context.Context, client *vmm.Client, o validateOpts) error {
	rep, err := vmm.DeepCheck(ctx, client)
	if o.record != "" && len(rep.Answers) > 0 {
		if werr := vmm.WriteRecord(o.record, rep.Answers); werr != nil {
			return werr
		}
	}
	if err != nil {
		return described(err)
	}
	if err := printProbes(a.stdout, &rep, o.asJSON); err != nil {
		return err
	}
	if o.record != "" {
		fmt.Fprintf(a.stderr, "Wrote %d masked answers to %s.\n", len(rep.Answers), o.record)
	}
	return deepVerdict(&rep, "attach the --record folder to a bug report before running operations against it")
}

// printProbes prints a deep check: the probe table, or the report as JSON.
func printProbes(w io.Writer, rep *vmm.Report, asJSON bool) error {
	if asJSON {
		r := *rep
		r.Answers = nil // --record writes them, masked, one file each
		return printJSON(w, &r)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROBE\tEXPECTED\tSEEN\tRESULT")
	for _, p := range rep.Probes {
		seen := p.Seen
		if p.Create != "" {
			seen += "; to compare: " + p.Create
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.Expected, seen, p.Result)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, rep.Summary())
	return err
}

// deepVerdict is exit 6 when any probe found a mismatch, with what to do.
func deepVerdict(rep *vmm.Report, advice string) error {
	if d := rep.Differs(); len(d) > 0 {
		return withCode(exitDiffers, fmt.Errorf("VMmanager at %s answers differently from what vmmpm relies on in: %s; %s",
			rep.URL, strings.Join(d, ", "), advice))
	}
	return nil
}

// validateReplay serves a --record folder on loopback and runs the deep check against it.
func (a *app) validateReplay(ctx context.Context, o validateOpts) error {
	if o.url != "" || o.user != "" || o.record != "" {
		return usagef("--replay takes the recorded folder only: drop --url, --user and --record")
	}
	h, err := vmm.Replay(o.replay)
	if err != nil {
		return usagef("--replay: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	client, err := vmm.New(vmm.Config{URL: "http://" + ln.Addr().String(), Email: vmm.MaskedEmail,
		Password: "recorded", SessionTTL: time.Minute})
	if err != nil {
		return described(err)
	}
	ctx, cancel := context.WithTimeout(ctx, validateTimeout)
	defer cancel()
	return a.validateDeep(ctx, client, o)
}

func roundMS(d time.Duration) float64 {
	return float64(d.Round(10*time.Microsecond).Microseconds()) / 1000
}

func printValidate(w io.Writer, rep validateReport, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(w, "%s is a VMmanager 6 administrator at %s; VMmanager answered in %.2f ms.\n", rep.User, rep.URL, rep.LatencyMS)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCLUSTER\tVIRTUALIZATION\tADDITIONAL INTERFACE")
	for _, c := range rep.Clusters {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", c.ID, c.Name, c.Virtualization, yesNo(c.AdditionalInterface))
	}
	return tw.Flush()
}

// readPassword prompts without echo on a terminal, otherwise reads one line of stdin.
func (a *app) readPassword(user string) (string, error) {
	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(a.stderr, "Password for %s: ", user)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", fmt.Errorf("could not read the password from the terminal: %w", err)
		}
		return nonEmptyPassword(string(b))
	}
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("could not read the password from stdin: %w", err)
	}
	return nonEmptyPassword(strings.TrimRight(line, "\r\n"))
}

func nonEmptyPassword(p string) (string, error) {
	if p == "" {
		return "", usagef("no password given: pipe it on stdin (e.g. from a password manager) or run in a terminal to be prompted")
	}
	return p, nil
}

// describedError shows vmm.Describe's sentence but still matches the vmm sentinels for exitCode.
type describedError struct{ err error }

func (e *describedError) Error() string {
	// validate takes the module settings a TLS failure suggests as flags.
	msg := strings.NewReplacer("(tls_pin=", "(--tls-pin ", "(tls_ca_file=PATH)", "(--ca-file FILE)").Replace(vmm.Describe(e.err))
	return tlsHint(e.err, msg, "--insecure")
}
func (e *describedError) Unwrap() error { return e.err }

func described(err error) error { return &describedError{err: err} }

// tlsHint names the switch this command offers where msg (a TLS failure) advises skipping verification.
func tlsHint(err error, msg, how string) string {
	if !errors.Is(err, vmm.ErrTLS) || !strings.Contains(msg, "skip TLS verification") {
		return msg
	}
	return strings.Replace(msg, "skip TLS verification", "skip TLS verification ("+how+")", 1)
}
