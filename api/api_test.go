package api

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"vmmpm/store"
)

// TestBillingFlow: an operator token orders a service with billing's external_id, finds it by that id,
// follows its open job to active (with the VM's addresses), suspends and resumes it; a reader reads
// tariffs, modules, jobs and the figures. Every answer is checked against openapi.json.
func TestBillingFlow(t *testing.T) {
	e := newEnv(t, Options{})
	op, rd := e.token("billing-prod", store.RoleOperator), e.token("dashboard", store.RoleReader)

	if r := e.do("GET", "/api/v1/health", "", nil); r.status != 200 || !contains(string(r.body), `"ok"`) {
		t.Fatalf("health: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/openapi.json", "", nil); r.status != 200 || string(r.body) != string(OpenAPI) {
		t.Fatalf("openapi.json is not served as checked in: %d", r.status)
	}
	r := e.do("POST", "/api/v1/services", op, map[string]any{"tariff": "small", "client_email": "ann@example.com", "external_id": "whmcs-101"},
		HeaderIdempotencyKey, "order-101")
	if r.status != http.StatusCreated {
		t.Fatalf("order: %d %s", r.status, r.body)
	}
	var o ordered
	r.decode(t, &o)
	if len(o.Services) != 1 || o.Services[0].ID == 0 || o.Services[0].ExternalID != "whmcs-101" || o.Services[0].Job.ID == 0 ||
		o.Services[0].Job.Type != store.OpOpen || o.Services[0].Job.By != "token billing-prod" || o.Tariff.Name != "small" {
		t.Fatalf("order answer: %s", r.body)
	}
	svc, job := o.Services[0].ID, o.Services[0].Job.ID
	var page servicePage
	e.do("GET", "/api/v1/services?external_id=whmcs-101", rd, nil).decode(t, &page)
	if len(page.Services) != 1 || page.Services[0].ID != svc {
		t.Fatalf("by external_id: %+v", page)
	}
	waitFor(t, 30*time.Second, "the service becomes active", func() bool {
		var s struct {
			Status string `json:"status"`
			VM     struct {
				IPv4 []string `json:"ipv4"`
			} `json:"vm"`
		}
		e.do("GET", fmt.Sprintf("/api/v1/services/%d", svc), rd, nil).decode(t, &s)
		return s.Status == store.ServiceActive && len(s.VM.IPv4) == 1
	})
	var j struct {
		State string `json:"state"`
		Log   []struct {
			Text string `json:"text"`
		} `json:"log"`
	}
	e.do("GET", fmt.Sprintf("/api/v1/jobs/%d", job), rd, nil).decode(t, &j)
	if j.State != store.JobDone || len(j.Log) == 0 || !contains(j.Log[0].Text, "by token billing-prod") {
		t.Errorf("the open job: %+v", j)
	}
	for _, typ := range []string{"suspend", "resume"} {
		r := e.do("POST", fmt.Sprintf("/api/v1/services/%d/operations", svc), op, map[string]any{"type": typ})
		if r.status != http.StatusAccepted {
			t.Fatalf("%s: %d %s", typ, r.status, r.body)
		}
		var ja jobAnswer
		r.decode(t, &ja)
		waitFor(t, 30*time.Second, typ+" is done", func() bool {
			var j struct {
				State string `json:"state"`
			}
			e.do("GET", fmt.Sprintf("/api/v1/jobs/%d", ja.Job.ID), rd, nil).decode(t, &j)
			return j.State == store.JobDone
		})
	}
	// arguments as numbers or strings, checked by the engine's table
	r = e.do("POST", fmt.Sprintf("/api/v1/services/%d/operations", svc), op, map[string]any{"type": "setparam", "args": map[string]any{"cpu": 2, "ram_mib": "2048"}})
	if r.status != http.StatusAccepted {
		t.Errorf("setparam: %d %s", r.status, r.body)
	}
	r = e.do("POST", fmt.Sprintf("/api/v1/services/%d/operations", svc), op, map[string]any{"type": "setparam", "args": map[string]any{"os_id": 2}})
	if code, msg, field := r.errCode(t); r.status != 422 || code != "invalid" || field != "os_id" || !contains(msg, "only reinstall takes it") {
		t.Errorf("setparam with os_id: %d %s", r.status, r.body)
	}
	r = e.do("POST", fmt.Sprintf("/api/v1/services/%d/operations", svc), op, map[string]any{"type": "setparam", "args": map[string]any{}})
	if _, msg, _ := r.errCode(t); r.status != 422 || !contains(msg, "give at least one of cpu") {
		t.Errorf("setparam without arguments: %d %s", r.status, r.body)
	}
	r = e.do("POST", fmt.Sprintf("/api/v1/services/%d/operations", svc), op, map[string]any{"type": "explode"})
	if code, msg, _ := r.errCode(t); r.status != 422 || code != "invalid" || !contains(msg, `unknown operation "explode"`) {
		t.Errorf("unknown operation: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/services/999/operations", op, map[string]any{"type": "reboot"}); r.status != 404 {
		t.Errorf("operation on a missing service: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/services/999", rd, nil); r.status != 404 {
		t.Errorf("missing service: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/jobs/abc", rd, nil); r.status != 404 {
		t.Errorf("a job id that is no number: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/api/v1/services/1", rd, nil); r.status != 405 || r.header.Get("Allow") != "GET" {
		t.Errorf("DELETE: %d %v %s", r.status, r.header, r.body)
	}
	if r := e.do("GET", "/api/v2/nothing", rd, nil); r.status != 404 {
		t.Errorf("unknown path: %d %s", r.status, r.body)
	}
	var jp jobPage
	e.do("GET", fmt.Sprintf("/api/v1/jobs?service=%d&limit=2", svc), rd, nil).decode(t, &jp)
	if len(jp.Jobs) != 2 || jp.Next == 0 {
		t.Errorf("jobs of the service, 2 a page: %+v", jp)
	}
	var jp2 jobPage
	e.do("GET", fmt.Sprintf("/api/v1/jobs?service=%d&after=%d", svc, jp.Next), rd, nil).decode(t, &jp2)
	if len(jp2.Jobs) != 2 || jp2.Jobs[0].ID <= jp.Next {
		t.Errorf("the next page: %+v", jp2)
	}
	var tl tariffList
	e.do("GET", "/api/v1/tariffs", rd, nil).decode(t, &tl)
	if len(tl.Tariffs) != 1 {
		t.Errorf("tariffs: %+v", tl)
	}
	e.do("GET", "/api/v1/tariffs/1", rd, nil)
	e.do("GET", "/api/v1/modules", rd, nil)
	e.do("GET", "/api/v1/modules/1", rd, nil)
	if r := e.do("GET", "/metrics", rd, nil); r.status != 200 || !contains(string(r.body), "vmmpm_") || !contains(string(r.body), "# EOF") {
		t.Errorf("metrics: %d %s", r.status, truncate(r.body))
	}
	if r := e.do("GET", "/api/v1/services?status=sleeping", rd, nil); r.status != 200 {
		t.Errorf("an unknown status filter: %d", r.status)
	}
	if r := e.do("GET", "/api/v1/services?limit=x", rd, nil); r.status != 400 {
		t.Errorf("limit=x: %d %s", r.status, r.body)
	}
	if n := e.check.Count(); n < 30 {
		t.Errorf("only %d answers were validated", n)
	}
}

// TestTLSIsRequired: the listener speaks only TLS, and a client that does not pin the certificate (nor
// trust it) is refused by TLS itself.
func TestTLSIsRequired(t *testing.T) {
	e := newEnv(t, Options{})
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Get(strings.Replace(e.url, "https://", "http://", 1) + "/api/v1/health"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP got a 200 from the TLS listener")
		}
	}
	unpinned := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
	if _, err := unpinned.Get(e.url + "/api/v1/health"); err == nil || !contains(err.Error(), "certificate") {
		t.Errorf("a client that does not pin the certificate: %v", err)
	}
	wrong := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: PinnedConfig(strings.Repeat("AB:", 31) + "AB")}}
	if _, err := wrong.Get(e.url + "/api/v1/health"); err == nil || !contains(err.Error(), "not the pinned one") {
		t.Errorf("a client pinning another certificate: %v", err)
	}
	if r := e.do("GET", "/api/v1/health", "", nil); r.status != 200 {
		t.Errorf("the pinned client: %d", r.status)
	}
}
