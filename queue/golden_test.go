package queue

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden from what the engine sends")

// goldenReq is one mutating request as the golden files hold it. A password is "<password>": random,
// so only its presence and type are compared.
type goldenReq struct {
	Method string         `json:"method"`
	Path   string         `json:"path"`
	Body   map[string]any `json:"body"` // null: no body; {} an empty object
}

// Every request the engine sends for each of the 8 operations, compared field by field with
// testdata/golden/OP.json, whose shapes come from vmmanager6-api.md §5.3 and §6 (WHMCS, GO1). The
// emulator refuses unknown properties, so the same run also shows every request passes a strict API.
func TestGoldenRequestsPassStrictEmulator(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 31}, store.DefaultParams())
	f.module.UseRecipes, f.module.RecipeWait, f.module.AdditionalInterface = true, store.RecipeWaitRecipe, true
	f.tariff.RecipeID, f.tariff.CPU, f.tariff.RAMMiB = 1, 2, 2048
	f.must(f.db.Save(f.module), f.db.Save(f.tariff))
	l := f.logged()
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 1, "gold@example.org")
	if err != nil {
		t.Fatal(err)
	}
	runIdle(t, e, 30e9)
	check := func(op string, from int) {
		t.Helper()
		var got []goldenReq
		for _, w := range l.since(from) {
			if w.status >= 400 {
				t.Errorf("%s: the strict emulator refused %s %s with %d", op, w.method, w.path, w.status)
			}
			if w.method == "GET" || w.path == "/auth/v4/public/token" {
				continue
			}
			if pw, ok := w.body["password"].(string); ok && pw != "" {
				w.body["password"] = "<password>"
			}
			got = append(got, goldenReq{w.method, w.path, w.body})
		}
		compareGolden(t, op, got)
	}
	check(store.OpOpen, 0)
	id := svcs[0].ID
	for _, st := range []struct {
		op   string
		args map[string]string
	}{
		{store.OpSuspend, nil},
		{store.OpResume, nil},
		{store.OpReboot, nil},
		{store.OpReinstall, map[string]string{ArgOSID: "2"}},
		{store.OpSetPassword, map[string]string{ArgPassword: "n3w-secret-1"}},
		{store.OpSetParam, map[string]string{ArgCPU: "1", ArgRAMMiB: "1024", ArgDiskMiB: "20480", ArgIPv4Count: "2"}},
		{store.OpClose, nil},
	} {
		mark := l.len()
		f.run(e, id, st.op, st.args)
		check(st.op, mark)
	}
}

func compareGolden(t *testing.T, op string, got []goldenReq) {
	t.Helper()
	path := filepath.Join("testdata", "golden", op+".json")
	if *updateGolden {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		_ = enc.Encode(got)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v (run go test ./queue -run Golden -update once, then check the file against the sources)", op, err)
	}
	var want []goldenReq
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	// Round-trip got through JSON so numbers compare as the file holds them.
	b, _ := json.Marshal(got)
	got = nil
	_ = json.Unmarshal(b, &got)
	if len(got) != len(want) {
		t.Errorf("%s: %d requests, golden has %d:\n got  %s\n want %s", op, len(got), len(want), b, data)
		return
	}
	for i := range want {
		g, w := got[i], want[i]
		where := fmt.Sprintf("%s request %d (%s %s)", op, i+1, w.Method, w.Path)
		if g.Method != w.Method || g.Path != w.Path || (g.Body == nil) != (w.Body == nil) {
			t.Errorf("%s: sent %s %s", where, g.Method, g.Path)
			continue
		}
		for _, d := range fieldDiff("", g.Body, w.Body) {
			t.Errorf("%s: %s", where, d)
		}
	}
}

// fieldDiff lists, property by property, where got departs from want (nested objects and arrays too).
func fieldDiff(prefix string, got, want any) []string {
	gm, gok := got.(map[string]any)
	wm, wok := want.(map[string]any)
	if gok && wok {
		var out []string
		keys := make([]string, 0, len(gm)+len(wm))
		for k := range gm {
			keys = append(keys, k)
		}
		for k := range wm {
			if _, ok := gm[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			g, inG := gm[k]
			w, inW := wm[k]
			switch {
			case !inW:
				out = append(out, fmt.Sprintf("property %s%s is sent but no source shows it", prefix, k))
			case !inG:
				out = append(out, fmt.Sprintf("property %s%s is missing", prefix, k))
			default:
				out = append(out, fieldDiff(prefix+k+".", g, w)...)
			}
		}
		return out
	}
	ga, gok := got.([]any)
	wa, wok := want.([]any)
	if gok && wok && len(ga) == len(wa) {
		var out []string
		for i := range wa {
			out = append(out, fieldDiff(fmt.Sprintf("%s%d.", prefix, i), ga[i], wa[i])...)
		}
		return out
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		return []string{fmt.Sprintf("%s = %s, want %s", strings.TrimSuffix(prefix, "."), gj, wj)}
	}
	return nil
}
