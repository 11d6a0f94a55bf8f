package backendtest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"vmmpm/backend"
	"vmmpm/store"
	"vmmpm/vmm"
	"vmmpm/wizard"
)

// testCatalog: what the Add wizard validates against.
func testCatalog(t *testing.T, env *Env) {
	b := env.Backend()
	cat, err := b.Catalog(ctx(t))
	must(t, err)
	if len(cat.DataCenters)+len(cat.Departments)+len(cat.Modules) != 0 || cat.NextModuleID != 1 {
		t.Errorf("the catalog of an empty database is %+v", cat)
	}
	w := newWorld(t, env, false)
	ext := &store.DataCenter{Name: "Partner", ExternalID: "ext-1"}
	_, err = b.Save(ctx(t), ext)
	must(t, err)
	cat, err = b.Catalog(ctx(t))
	must(t, err)
	if len(cat.DataCenters) != 2 || cat.DataCenters[0].ID != w.dc || cat.DataCenters[1].ExternalID != "ext-1" {
		t.Errorf("catalog data centers: %+v", cat.DataCenters)
	}
	if len(cat.Departments) != 1 || cat.Departments[0].Name != "Support" {
		t.Errorf("catalog departments: %+v", cat.Departments)
	}
	if len(cat.Modules) != 1 || cat.Modules[0].Name != "KVM one" || cat.NextModuleID != 2 {
		t.Errorf("catalog modules: %+v, next id %d", cat.Modules, cat.NextModuleID)
	}
	// What the wizard makes of it: the data center with an external id cannot be chosen.
	choices := cat.DataCenterChoices()
	if len(choices) != 2 || !choices[0].Selectable || choices[1].Selectable {
		t.Errorf("data center choices: %+v", choices)
	}
	wantRule(t, "a module name the catalog has", cat.ValidateName(" kvm ONE ", 0), "name", "must be unique")
}

// testCheckIntegration: the wizard's login, with a password or the stored one, and each way it
// fails keeping its cause across the call.
func testCheckIntegration(t *testing.T, env *Env) {
	b := env.Backend()
	in := wizard.Integration{URL: env.SimURL, Username: env.AdminEmail}
	res, err := b.CheckIntegration(ctx(t), in, env.Password, 0)
	must(t, err)
	if res == nil || res.URL == "" || res.At.IsZero() {
		t.Fatalf("a good login gave %+v", res)
	}
	var names []string
	for _, c := range res.Clusters {
		names = append(names, c.Name+"/"+c.Virtualization)
	}
	if !slices.Equal(names, []string{"kvm-main/kvm", "lxd-main/lxd"}) {
		t.Errorf("the clusters listed are %v", names)
	}

	res, err = b.CheckIntegration(ctx(t), in, "not-the-password", 0)
	wantIs(t, "a wrong password", err, vmm.ErrBadCredentials)
	wantCause(t, "a wrong password", err, wizard.CauseBadCredentials)
	if res != nil {
		t.Errorf("a refused login gave a result %+v", res)
	}
	if err != nil && strings.Contains(err.Error(), "not-the-password") {
		t.Errorf("the refusal shows the password: %v", err)
	}

	_, err = b.CheckIntegration(ctx(t), wizard.Integration{URL: unreachableURL(t), Username: env.AdminEmail}, env.Password, 0)
	wantIs(t, "nothing listening", err, vmm.ErrUnreachable)
	wantCause(t, "nothing listening", err, wizard.CauseConnection)

	_, err = b.CheckIntegration(ctx(t), wizard.Integration{URL: "https://vmm.example.com/some/path", Username: env.AdminEmail}, env.Password, 0)
	wantIs(t, "a URL with a path", err, vmm.ErrBadURL)
	wantCause(t, "a URL with a path", err, wizard.CauseBadURL)

	_, err = b.CheckIntegration(ctx(t), wizard.Integration{URL: env.SimURL, Username: "admin"}, env.Password, 0)
	wantRule(t, "a username that is not an email", err, "username", "must be an email address")
	_, err = b.CheckIntegration(ctx(t), in, "", 0)
	wantRule(t, "no password and no stored module", err, "password", "must not be empty")

	// Editing: an empty password means the stored one, which only the answering side can read.
	w := newWorld(t, env, false)
	res, err = b.CheckIntegration(ctx(t), in, "", w.module.ID)
	if err != nil || res == nil || len(res.Clusters) != 2 {
		t.Errorf("a login with the stored password: %+v, %v", res, err)
	}
	_, err = b.CheckIntegration(ctx(t), in, "", 99)
	wantIs(t, "the stored password of module 99", err, store.ErrSecretNotFound)
}

// wantCause fails unless err is a *wizard.CheckError with cause c.
func wantCause(t *testing.T, what string, err error, c wizard.Cause) {
	t.Helper()
	var ce *wizard.CheckError
	if !errors.As(err, &ce) {
		t.Errorf("%s: error %v (%T) is not a *wizard.CheckError", what, err, err)
		return
	}
	if ce.Cause != c {
		t.Errorf("%s: the check failed with cause %q, want %q", what, ce.Cause, c)
	}
}

// testCheckPlacement: a module with live services stays on its data center and cluster.
func testCheckPlacement(t *testing.T, env *Env) {
	w := newWorld(t, env, false)
	b := w.b
	two := &store.DataCenter{Name: "DC Two"}
	_, err := b.Save(ctx(t), two)
	must(t, err)
	d := wizard.DraftOf(w.module)
	d.DataCenterID = two.ID
	must(t, b.CheckPlacement(ctx(t), d)) // no service yet: it may move
	if err := b.CheckPlacement(ctx(t), draft(t, env, b)); err != nil {
		t.Errorf("a new module's placement: %v", err)
	}

	env.AddService(w.tariff.ID, w.module.ID, store.ServiceActive, 1)
	wantRule(t, "moving a module with a live service to another data center", b.CheckPlacement(ctx(t), d),
		"datacenter", "live service(s)")
	d = wizard.DraftOf(w.module)
	d.Cluster = store.Cluster{ID: 2, Name: "lxd-main", Virtualization: store.VirtLXD}
	wantRule(t, "moving a module with a live service to another cluster", b.CheckPlacement(ctx(t), d),
		"cluster", "live service(s)")
	d = wizard.DraftOf(w.module)
	d.Name = "renamed"
	if err := b.CheckPlacement(ctx(t), d); err != nil {
		t.Errorf("a rename of a module with live services: %v", err)
	}
	d.ID = 99
	wantIs(t, "module 99's placement", b.CheckPlacement(ctx(t), d), store.ErrNotFound)
}

// testAddPlacement: the wizard's data center and department, both or neither.
func testAddPlacement(t *testing.T, env *Env) {
	b := env.Backend()
	p, err := b.AddPlacement(ctx(t), "DC One", "Support")
	must(t, err)
	if p.DataCenterID == 0 || p.DepartmentID == 0 || p.Catalog == nil ||
		len(p.Catalog.DataCenters) != 1 || p.Catalog.DataCenters[0].ID != p.DataCenterID ||
		len(p.Catalog.Departments) != 1 || p.Catalog.Departments[0].ID != p.DepartmentID {
		t.Fatalf("AddPlacement gave %+v", p)
	}
	p, err = b.AddPlacement(ctx(t), "", "Ops")
	must(t, err)
	if p.DataCenterID != 0 || p.DepartmentID == 0 || len(p.Catalog.Departments) != 2 {
		t.Errorf("a department alone gave %+v", p)
	}
	p, err = b.AddPlacement(ctx(t), "DC Two", " support")
	wantRule(t, "a department name already taken", err, "name", "must be unique")
	if p != nil {
		t.Errorf("a refused placement gave %+v", p)
	}
	if dcs := all[store.DataCenter](t, b); len(dcs) != 1 {
		t.Errorf("a refused placement kept its data center: %+v", dcs)
	}
}

// testSaveModule: the module and its password together; the password in the secrets, never in the
// database or a refusal; edits keep the stored password unless given one.
func testSaveModule(t *testing.T, env *Env) {
	w := newWorld(t, env, false)
	b := w.b
	m := w.module
	if pw, err := env.Secrets.Get(m.ID); err != nil || pw != env.Password {
		t.Fatalf("the new module's password in the secrets: %q, %v", pw, err)
	}
	if m.LastCheck == nil || !m.LastCheck.OK || m.Cluster.Name != "kvm-main" || !m.Enabled {
		t.Errorf("the saved module is %+v", m)
	}
	if got := load[store.Module](t, b, m.ID); got.Name != m.Name || got.URL != m.URL || got.Username != env.AdminEmail {
		t.Errorf("the module reads back as %+v, want %+v", got, m)
	}

	// Refusals keep nothing, and do not show the password.
	d := draft(t, env, b)
	d.Name, d.DataCenterID, d.DepartmentID = " kvm one", w.dc, w.dept
	got, err := b.SaveModule(ctx(t), d, env.Password)
	wantRule(t, "a module name already taken", err, "name", "must be unique")
	if got != nil {
		t.Errorf("a refused save gave %+v", got)
	}
	if err != nil && strings.Contains(err.Error(), env.Password) {
		t.Errorf("the refusal shows the password: %v", err)
	}
	d.Name = "KVM two"
	_, err = b.SaveModule(ctx(t), d, "")
	wantRule(t, "no password", err, "password", "must not be empty")
	d.DataCenterID = 99
	_, err = b.SaveModule(ctx(t), d, env.Password)
	wantRule(t, "a data center that does not exist", err, "datacenter", "99 is not one")
	if mods := all[store.Module](t, b); len(mods) != 1 {
		t.Errorf("refused saves left modules %+v", mods)
	}
	if _, err := env.Secrets.Get(m.ID + 1); !errors.Is(err, store.ErrSecretNotFound) {
		t.Errorf("a refused save left a password for module %d: %v", m.ID+1, err)
	}

	// An edit without a password keeps the stored one.
	e := wizard.DraftOf(m)
	e.Sort = 7
	edited, err := b.SaveModule(ctx(t), e, "")
	must(t, err)
	if edited.ID != m.ID || edited.Sort != 7 || load[store.Module](t, b, m.ID).Sort != 7 {
		t.Errorf("the edit gave %+v", edited)
	}
	if pw, _ := env.Secrets.Get(m.ID); pw != env.Password {
		t.Errorf("an edit without a password changed the stored one to %q", pw)
	}
	e = wizard.DraftOf(m)
	e.URL = unreachableURL(t)
	_, err = b.SaveModule(ctx(t), e, "")
	wantRule(t, "a new URL not checked", err, store.FieldRecord, "has not been checked against VMmanager")
	e = wizard.DraftOf(m)
	e.ID = 99
	_, err = b.SaveModule(ctx(t), e, "")
	wantIs(t, "an edit of module 99", err, store.ErrNotFound)

	if !env.Stored(m.Name) {
		t.Errorf("Env.Stored does not find the module's name %q, so its search proves nothing", m.Name)
	}
	if env.Stored(env.Password) {
		t.Error("the password is in the database file")
	}
	var raw []*store.Module
	must(t, b.List(ctx(t), backend.KindOf[store.Module](), &raw))
	for _, r := range raw {
		if strings.Contains(describeModule(r), env.Password) {
			t.Errorf("the module record carries the password: %+v", r)
		}
	}
}

func describeModule(m *store.Module) string {
	s := m.Name + m.URL + m.Username
	if m.LastCheck != nil {
		s += m.LastCheck.Message
	}
	return s
}

// testModuleImages: what a module's VMmanager offers a tariff, with the stored password.
func testModuleImages(t *testing.T, env *Env) {
	w := newWorld(t, env, false)
	b := w.b
	im, err := b.ModuleImages(ctx(t), w.module.ID)
	must(t, err)
	var oses []uint64
	for _, o := range im.OS {
		oses = append(oses, o.ID)
	}
	if !slices.Equal(oses, []uint64{1, 2, 4}) { // 3 is an LXD image: not on the KVM cluster
		t.Errorf("the OS images for a KVM module are %v, want 1, 2, 4", oses)
	}
	if len(im.Recipes) != 2 || im.Module == nil || im.Module.ID != w.module.ID {
		t.Errorf("images: recipes %+v, module %+v", im.Recipes, im.Module)
	}
	_, err = b.ModuleImages(ctx(t), 99)
	wantIs(t, "module 99's images", err, store.ErrNotFound)
	must(t, env.Secrets.Set(w.module.ID, "stale"))
	_, err = b.ModuleImages(ctx(t), w.module.ID)
	wantIs(t, "images with a stale password", err, vmm.ErrBadCredentials)
	wantCause(t, "images with a stale password", err, wizard.CauseBadCredentials)
	must(t, env.Secrets.Delete(w.module.ID))
	_, err = b.ModuleImages(ctx(t), w.module.ID)
	wantIs(t, "images without a password", err, store.ErrSecretNotFound)
}

// testCheckModule: a login with the stored password, recorded on the module either way; a failed
// check still reports what it saw.
func testCheckModule(t *testing.T, env *Env) {
	w := newWorld(t, env, false)
	b := w.b
	chk, err := b.CheckModule(ctx(t), w.module.ID)
	must(t, err)
	if chk == nil || !chk.OK || !strings.Contains(chk.Message, `cluster "kvm-main" (KVM) is there`) {
		t.Fatalf("a good check: %+v", chk)
	}
	if last := load[store.Module](t, b, w.module.ID).LastCheck; last == nil || !last.OK || !last.At.Equal(chk.At) {
		t.Errorf("the module's last check is %+v, want %+v", last, chk)
	}

	must(t, env.Secrets.Set(w.module.ID, "stale"))
	chk, err = b.CheckModule(ctx(t), w.module.ID)
	wantIs(t, "a check with a stale password", err, vmm.ErrBadCredentials)
	wantCause(t, "a check with a stale password", err, wizard.CauseBadCredentials)
	if chk == nil || chk.OK || chk.Message == "" {
		t.Errorf("a failed check reports %+v, want what it saw", chk)
	}
	if last := load[store.Module](t, b, w.module.ID).LastCheck; last == nil || last.OK {
		t.Errorf("the failed check was not recorded: %+v", last)
	}
	_, err = b.CheckModule(ctx(t), 99)
	wantIs(t, "checking module 99", err, store.ErrNotFound)
}

// testSetPassword: a password is kept only once VMmanager accepted it.
func testSetPassword(t *testing.T, env *Env) {
	w := newWorld(t, env, false)
	b := w.b
	id := w.module.ID
	must(t, env.Secrets.Set(id, "stale"))
	err := b.SetPassword(ctx(t), id, "not-the-password")
	wantIs(t, "a wrong password", err, vmm.ErrBadCredentials)
	if err != nil && strings.Contains(err.Error(), "not-the-password") {
		t.Errorf("the refusal shows the password: %v", err)
	}
	wantRule(t, "an empty password", b.SetPassword(ctx(t), id, ""), "password", "must not be empty")
	wantRule(t, "two lines", b.SetPassword(ctx(t), id, "a\nb"), "password", "single line")
	if pw, _ := env.Secrets.Get(id); pw != "stale" {
		t.Fatalf("a refused password replaced the stored one with %q", pw)
	}
	wantIs(t, "module 99's password", b.SetPassword(ctx(t), 99, env.Password), store.ErrNotFound)
	must(t, b.SetPassword(ctx(t), id, env.Password))
	if pw, _ := env.Secrets.Get(id); pw != env.Password {
		t.Errorf("the accepted password was not kept: %q", pw)
	}
	if env.Stored(env.Password) {
		t.Error("the password is in the database file")
	}
}
