package vmm

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestWhereEncoding(t *testing.T) {
	cases := []struct {
		got, want string
	}{
		{where(eq("email", "admin@example.com")), "?where=(email+EQ+'admin@example.com')"},
		{where(eq("id", "42")), "?where=(id+EQ+'42')"},
		{where(eq("consul_id", "17"), eq("name", "host_create")),
			"?where=((consul_id+EQ+'17')+AND+(name+EQ+'host_create'))"},
		{where(eq("email", "a+b@x.io")), "?where=(email+EQ+'a%2Bb@x.io')"},
		{where(eq("email", "o'brien@x.io")), "?where=(email+EQ+'o%5C%27brien@x.io')"},
		{where(eq("name", "svc 1&x=%")), "?where=(name+EQ+'svc%201%26x%3D%25')"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("where = %s, want %s", c.got, c.want)
		}
	}
	// What a server's query decoder sees: the '+' inside the value survives, the quote is escaped.
	q, _ := url.ParseQuery(where(eq("email", "a+b'c@x.io"))[1:])
	if w := q.Get("where"); w != `(email EQ 'a+b\'c@x.io')` {
		t.Errorf("decoded where = %q", w)
	}
}

func TestDecodeAnswerShapes(t *testing.T) {
	var tok tokenAnswer
	if err := decodeAnswer(201, []byte(`{"id":"12","token":"t-1","expires_at":"2030-01-01 00:00:00","confirmed":true}`), &tok, true); err != nil || tok.Token != "t-1" || tok.ID != 12 {
		t.Fatalf("token answer: %+v %v", tok, err)
	}
	err := decodeAnswer(401, []byte(`{"error":{"code":1001,"msg":"Wrong email or password"}}`), &tok, true)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 1001 || ae.Status != 401 || !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("bad login answer: %v", err)
	}
	if errors.Is(decodeError(401, nil, false), ErrBadCredentials) {
		t.Fatal("a 401 on an ordinary call is an expired session, not bad credentials")
	}
	if !errors.Is(decodeError(404, []byte("<html>"), false), ErrNotFound) {
		t.Fatal("404 must match ErrNotFound")
	}
	if err := decodeAnswer(200, []byte("<html>"), &tok, false); !errors.Is(err, ErrBadAnswer) {
		t.Fatalf("HTML with 200: %v", err)
	}
	if _, err := decodeList[wireCluster]([]byte(`{"id":1}`)); !errors.Is(err, ErrBadAnswer) {
		t.Fatalf("object without list: %v", err)
	}
}

func TestClusterInterfaces(t *testing.T) {
	ws, err := decodeList[wireCluster]([]byte(`{"last_notify":3,"list":[
		{"id":1,"name":"kvm-main","virtualization_type":"kvm","interfaces":[{"interface":0,"ippool":[1]},{"interface":1,"ippool":["2"]}]},
		{"id":2,"name":"lxd-main","virtualization_type":"lxd","interfaces":[{"interface":0,"ippool":[3]},{"interface":1,"ippool":[]}]},
		{"id":3,"name":"old","ippools":[{"id":4,"interface":2}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	kvm, lxd, old := ws[0].cluster(), ws[1].cluster(), ws[2].cluster()
	if !reflect.DeepEqual(kvm.Interfaces, []int{0, 1}) || !kvm.HasAdditionalInterface() || kvm.Pools[1][0] != 2 {
		t.Errorf("kvm: %+v", kvm)
	}
	if !reflect.DeepEqual(lxd.Interfaces, []int{0}) || lxd.HasAdditionalInterface() {
		t.Errorf("lxd: an empty pool list on interface 1 is no additional interface: %+v", lxd)
	}
	if !reflect.DeepEqual(old.Interfaces, []int{2}) || !old.HasAdditionalInterface() {
		t.Errorf("pools-only answer: %+v", old)
	}
}

func TestHostDecoding(t *testing.T) {
	ws, err := decodeList[wireHost]([]byte(`{"list":[{"id":7,"name":"svc-1","state":"active","cpu_number":2,
		"ram_mib":2048,"ip4":[{"ip":"10.0.0.2"},{"ip_addr":"10.0.0.3"}],"ip6":[],"disk":{"id":9,"disk_mib":20480},
		"os":{"id":1},"cluster":{"id":1,"name":"kvm-main"},"account":3}]}`))
	if err != nil {
		t.Fatal(err)
	}
	h := ws[0].host()
	want := Host{ID: 7, Name: "svc-1", State: "active", CPU: 2, RAMMiB: 2048, DiskID: 9, DiskMiB: 20480,
		IPv4: []string{"10.0.0.2", "10.0.0.3"}, MainIPv4: []string{"10.0.0.2", "10.0.0.3"}, OS: 1, Cluster: 1, Account: 3}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("host = %+v\nwant   %+v", h, want)
	}
}

// GO1 types ip4[].interface as a string and the emulator sends a number; sizes may come as strings
// from PHP-backed answers. Both read the same, and unknown fields are ignored.
func TestHostDecodingTolerant(t *testing.T) {
	ws, err := decodeList[wireHost]([]byte(`{"list":[{"id":"7","cpu_number":"2","ram_mib":2048,"brand_new":{"x":1},
		"ip4":[{"ip":"10.0.0.2","interface":0},{"ip":"10.0.0.3","interface":"1"},{"ip":"10.0.0.4","interface":"0"}],
		"disk":{"id":9,"disk_mib":"20480"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	h := ws[0].host()
	if h.ID != 7 || h.CPU != 2 || h.DiskMiB != 20480 || !reflect.DeepEqual(h.MainIPv4, []string{"10.0.0.2", "10.0.0.4"}) || len(h.IPv4) != 3 {
		t.Errorf("host = %+v", h)
	}
	pools, err := decodeList[wirePool]([]byte(`{"list":[{"id":1,"clusters":[{"id":1,"interface":"1"}]}]}`))
	if err != nil || pools[0].pool().Clusters[0].Interface != 1 {
		t.Errorf("pool with a string interface: %+v, %v", pools, err)
	}
}

// ip4[].interface as a name (GO2 names host interfaces with strings): one name is the main NIC; with
// several, the name of the first address listed is; an index (number or digits) is the cluster interface.
func TestHostInterfaceNames(t *testing.T) {
	cases := []struct {
		name, ip4 string
		main      []string
	}{
		{"one name", `[{"ip":"10.0.0.2","interface":"vmbr0"},{"ip":"10.0.0.3","interface":"vmbr0"}]`, []string{"10.0.0.2", "10.0.0.3"}},
		{"two names", `[{"ip":"10.0.0.2","interface":"ens3"},{"ip":"10.1.0.2","interface":"ens4"},{"ip":"10.0.0.3","interface":"ens3"}]`,
			[]string{"10.0.0.2", "10.0.0.3"}},
		{"digits", `[{"ip":"10.1.0.2","interface":"1"},{"ip":"10.0.0.2","interface":"0"}]`, []string{"10.0.0.2"}},
		{"none", `[{"ip":"10.0.0.2"},{"ip":"10.0.0.3","interface":null},{"ip":"10.0.0.4","interface":""}]`,
			[]string{"10.0.0.2", "10.0.0.3", "10.0.0.4"}},
	}
	for _, c := range cases {
		ws, err := decodeList[wireHost]([]byte(`{"list":[{"id":7,"ip4":` + c.ip4 + `}]}`))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if h := ws[0].host(); !reflect.DeepEqual(h.MainIPv4, c.main) {
			t.Errorf("%s: main %v, want %v", c.name, h.MainIPv4, c.main)
		}
	}
}

// A field of a type vmmpm cannot read is one sentence naming the field, what came and what it reads.
func TestShapeErrorNamesTheField(t *testing.T) {
	for body, want := range map[string]string{
		`{"list":[{"id":7,"ip4":[{"ip":"10.0.0.2","interface":true}]}]}`: "VMmanager sent ip4.interface as a boolean (true) in a list item of GET /vm/v3/host, where vmmpm reads a number or a string",
		`{"list":[{"id":"seven"}]}`:                                      `VMmanager sent id as a string ("seven") in a list item of GET /vm/v3/host, where vmmpm reads an id (a number or a string of digits)`,
		`{"list":[{"id":7,"name":12}]}`:                                  "VMmanager sent name as a number in a list item of GET /vm/v3/host, where vmmpm reads a string",
	} {
		_, err := decodeListAt[wireHost]([]byte(body), "/vm/v3/host?where=(id+EQ+'7')")
		if err == nil || err.Error() != want || !errors.Is(err, ErrBadAnswer) {
			t.Errorf("%s:\n got %v\nwant %s", body, err, want)
		}
		if d := Describe(err); strings.Contains(d, "points to VMmanager 6") {
			t.Errorf("a field of another type reads as a wrong address: %s", d)
		}
	}
}

func TestTransient(t *testing.T) {
	cases := map[error]bool{
		&APIError{Status: 503}:                true,
		&APIError{Status: 500}:                true,
		&APIError{Status: 401}:                true, // expired token
		&APIError{Status: 401, login: true}:   false,
		&APIError{Status: 400}:                false,
		&APIError{Status: 404}:                false,
		&NetError{Kind: "refused"}:            true,
		&TLSError{Kind: "untrusted"}:          false,
		&TaskError{}:                          false,
		errorf(ErrNotAdmin, "x"):              false,
		errorf(ErrBadURL, "x"):                false,
		errors.New("something else entirely"): false,
	}
	for err, want := range cases {
		if got := Transient(err); got != want {
			t.Errorf("Transient(%#v) = %v, want %v", err, got, want)
		}
	}
}

// FuzzDecode feeds arbitrary bodies and statuses to every decoder the client uses on VMmanager answers.
// Nothing may panic; non-2xx always yields an *APIError with a message; 2xx yields a value or ErrBadAnswer.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		`{"last_notify":0,"list":[]}`,
		`{"last_notify":5,"list":[{"id":1,"name":"kvm-main","virtualization_type":"kvm","interfaces":[{"interface":0,"ippool":[1]},{"interface":1,"ippool":[2]}],"ippools":[{"id":1},{"id":2}]}]}`,
		`{"list":[{"id":"7","name":"svc-1","ip4":[{"ip":"10.0.0.2"}],"disk":{"id":9,"disk_mib":20480},"os":{"id":1},"account":{"id":3}}]}`,
		`{"list":[{"id":1,"consul_id":"15","name":"host_create","status":"complete"}]}`,
		`{"list":[{"id":2,"email":"admin@example.com","roles":["@admin"],"state":"active"}]}`,
		`{"error":{"code":1001,"msg":"Wrong email or password"}}`,
		`{"error":{"code":"2001","msg":"where: unexpected ')' at position 3","value":{"param":"where"}}}`,
		`{"error":null}`,
		`{"id":12,"token":"4-abcdef","expires_at":"2030-01-01 00:00:00","confirmed":true}`,
		`{"id":5,"task":81,"recipe_task":"82","recipe_task_list":[{"task":82}],"start_task":null}`,
		`{"id":5,"task":1001,"recipe_task":1002,"recipe_task_list":[1002,"1003"],"spice_task":null}`,
		`{"id":5,"task":1001,"start_task":1002}`,
		`<html><body>502 Bad Gateway</body></html>`,
		``,
		`null`,
		`{"list":null}`,
		`{"list":{"id":1}}`,
		`{"id":1e400}`,
		`{"id":-1}`,
	}
	for i, s := range seeds {
		f.Add(s, []int{200, 201, 400, 401, 404, 500, 503}[i%7])
	}
	f.Fuzz(func(t *testing.T, body string, status int) {
		data := []byte(body)
		if status < 200 || status > 299 {
			ae := decodeError(status, data, status%2 == 0)
			if ae == nil || ae.Msg == "" || ae.Status != status || ae.Error() == "" || Describe(ae) == "" {
				t.Fatalf("decodeError(%d, %q) = %#v", status, body, ae)
			}
			return
		}
		checkBadAnswer(t, decodeAnswer(status, data, &tokenAnswer{}, true))
		checkBadAnswer(t, decodeAnswer(status, data, &taskAnswer{}, false))
		if cs, err := decodeList[wireCluster](data); err == nil {
			for _, c := range cs {
				cl := c.cluster()
				if cl.HasAdditionalInterface() != (len(cl.Interfaces) > 0 && cl.Interfaces[len(cl.Interfaces)-1] >= 1) {
					t.Fatalf("HasAdditionalInterface disagrees with Interfaces %v", cl.Interfaces)
				}
			}
		} else {
			checkBadAnswer(t, err)
		}
		if hs, err := decodeList[wireHost](data); err == nil {
			for _, h := range hs {
				_ = h.host()
			}
		} else {
			checkBadAnswer(t, err)
		}
		_, err := decodeList[wireTask](data)
		checkBadAnswer(t, err)
		_, err = decodeList[wireAccount](data)
		checkBadAnswer(t, err)
		_, err = decodeList[wirePool](data)
		checkBadAnswer(t, err)
		_, err = decodeList[wireOS](data)
		checkBadAnswer(t, err)
	})
}

func checkBadAnswer(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrBadAnswer) {
		t.Fatalf("a 2xx answer failed with %v, not ErrBadAnswer", err)
	}
}

func TestTaskAnswerShapes(t *testing.T) {
	for body, want := range map[string]string{
		`{"id":5,"task":1001,"recipe_task":1002,"recipe_task_list":[1002,1003]}`:        "1002",
		`{"id":5,"task":1001,"recipe_task_list":[{"task":"1004","name":"recipe_run"}]}`: "1004",
		`{"id":5,"task":1001,"recipe_task":null,"recipe_task_list":[]}`:                 "",
	} {
		var a taskAnswer
		if err := decodeAnswer(200, []byte(body), &a, false); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		got := ""
		if r := recipeTask(a); r != nil {
			got = r.ConsulID
		}
		if a.Task != "1001" || got != want {
			t.Errorf("%s: task %q, recipe task %q; want %q", body, a.Task, got, want)
		}
	}
}

func TestDescribe(t *testing.T) {
	cases := map[error]string{
		&TLSError{Kind: "untrusted", Host: "vm:443"}:                            "skip TLS verification",
		&TLSError{Kind: "hostname", Host: "vm:443"}:                             "host name",
		&TLSError{Kind: "not-tls", Host: "vm:443"}:                              "http://",
		&NetError{Kind: "dns", Host: "vm.example"}:                              "could not be resolved",
		&NetError{Kind: "refused", Host: "vm:1"}:                                "VMmanager is running",
		&NetError{Kind: "timeout", Host: "vm:1"}:                                "firewall",
		&APIError{Status: 401, Code: 1001, Msg: "x", login: true}:               "email or password",
		&APIError{Status: 503}:                                                  "503",
		&APIError{Status: 404, Code: 4004, Msg: "host 7 does not exist"}:        "no longer exists",
		&APIError{Status: 400, Code: 2004, Msg: "not enough resources"}:         "not enough resources",
		&APIError{Status: 500}:                                                  "try again later",
		&TaskError{Task: TaskRef{"1001", "host_create"}, Reason: "disk"}:        "task log",
		errorf(ErrNotAdmin, "the account u@x is not a VMmanager administrator"): "@admin",
		errorf(ErrBadURL, "the VMmanager address %q has a path", "x/y"):         "https://host",
		errorf(ErrBadAnswer, "x answered the login without a token"):            "VMmanager 6",
		context.Canceled: "cancelled",
	}
	for err, want := range cases {
		d := Describe(err)
		if !strings.Contains(d, want) || !strings.HasSuffix(d, ".") || strings.Contains(d, "\n") ||
			strings.ToUpper(d[:1]) != d[:1] {
			t.Errorf("Describe(%v) = %q; want one sentence mentioning %q", err, d, want)
		}
	}
	if Describe(nil) != "" {
		t.Error("Describe(nil) must be empty")
	}
}
