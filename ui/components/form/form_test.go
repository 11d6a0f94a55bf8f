package form_test

import (
	"strings"
	"testing"

	"vmmpm/ui/common"
	"vmmpm/ui/components/form"
	"vmmpm/ui/internal/uitest"
)

func newForm() *form.Model {
	ctx := common.New(uitest.Plain(), nil)
	return form.New(ctx, "Test").
		AddText("name", "Name", "old", "", false).
		AddSwitch("on", "Queue", false, "").
		AddChoice("dc", "Data center", []form.Option{{Label: "A", Value: "1"}, {Label: "B", Value: "2", Disabled: "has an external id"}, {Label: "C", Value: "3"}}, "1", "").
		AddSecret("pw", "Password", "")
}

func send(f *form.Model, keys ...string) form.Result {
	var r form.Result
	for _, k := range keys {
		r, _ = f.Update(uitest.Key(k))
	}
	return r
}

func TestFormFields(t *testing.T) {
	f := newForm()
	send(f, "backspace", "backspace", "backspace")
	for _, r := range "new name" {
		f.Update(uitest.Key(string(r)))
	}
	send(f, "tab", " ", "tab", "right")
	if f.Value("name") != "new name" || !f.Bool("on") || f.Value("dc") != "3" {
		t.Fatalf("values: %q %v %q (the disabled option must be skipped)", f.Value("name"), f.Bool("on"), f.Value("dc"))
	}
	send(f, "tab")
	for _, r := range "s3cret pw" {
		f.Update(uitest.Key(string(r)))
	}
	send(f, "shift+tab")
	view := uitest.Strip(f.View())
	if strings.Contains(view, "s3cret") || !strings.Contains(view, "•••••••••") {
		t.Fatalf("the secret is not masked:\n%s", view)
	}
	if f.Value("pw") != "s3cret pw" {
		t.Fatalf("secret value %q", f.Value("pw"))
	}
	if r := send(f, "enter"); r != form.Submitted {
		t.Fatalf("enter: %v", r)
	}
	if r := send(f, "esc"); r != form.Cancelled {
		t.Fatalf("esc: %v", r)
	}
	if r := send(f, "q"); r != form.Editing {
		t.Fatalf("q inside a form: %v", r)
	}
}
