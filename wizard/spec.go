package wizard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"

	"vmmpm/store"
)

// Spec is the JSON file `vmmpm module add --spec` reads: the wizard's fields, with data center,
// department and cluster given by name or id. The password is not in it: it comes on stdin.
type Spec struct {
	ProductType         string      `json:"product_type"`
	Module              string      `json:"module"`
	URL                 string      `json:"url"`
	Username            string      `json:"username"`
	InsecureTLS         bool        `json:"insecure_tls"`
	TLSPin              string      `json:"tls_pin,omitempty"`
	TLSCAFile           string      `json:"tls_ca_file,omitempty"`
	DataCenter          SpecRef     `json:"datacenter"`
	Department          SpecRef     `json:"department"`
	Name                string      `json:"name"`
	Sort                int         `json:"sort"`
	Cluster             SpecRef     `json:"cluster"`
	UseRecipes          bool        `json:"use_recipes"`
	RecipeWait          string      `json:"recipe_wait"`
	AdditionalInterface bool        `json:"additional_interface"`
	Params              *SpecParams `json:"params,omitempty"`
}

// SpecParams are the optional module parameters of spec §4; absent ones keep their defaults.
type SpecParams struct {
	SessionTTL *int        `json:"session_ttl,omitempty"`
	Queue      *SpecSwitch `json:"queue,omitempty"`
	QueueKey   *string     `json:"queue_key,omitempty"`
	QueueCount *int        `json:"queue_count,omitempty"`
}

// SpecRef is a JSON number (an id) or a string (a name, or an id written as a string).
type SpecRef struct{ Ref }

// UnmarshalJSON accepts 3 or "DC Moscow".
func (r *SpecRef) UnmarshalJSON(b []byte) error {
	var id uint64
	if err := json.Unmarshal(b, &id); err == nil {
		r.Ref = Ref{ID: id}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("must be a name (string) or an id (number)")
	}
	r.Ref = ParseRef(s)
	return nil
}

// SpecSwitch is true/false or "on"/"off".
type SpecSwitch bool

// UnmarshalJSON accepts a JSON bool or the words ParseSwitch knows.
func (s *SpecSwitch) UnmarshalJSON(b []byte) error {
	var v bool
	if err := json.Unmarshal(b, &v); err == nil {
		*s = SpecSwitch(v)
		return nil
	}
	var w string
	if err := json.Unmarshal(b, &w); err != nil {
		return errors.New("must be true/false or \"on\"/\"off\"")
	}
	v, err := ParseSwitch("queue", w)
	*s = SpecSwitch(v)
	return err
}

// MarshalJSON writes the reference as a spec gives it (a name, or an id when there is no name), so a
// spec crosses the socket and reads back the same.
func (r SpecRef) MarshalJSON() ([]byte, error) {
	if r.Name != "" {
		return json.Marshal(r.Name)
	}
	return json.Marshal(r.ID)
}

// MaxSpec bounds a spec file: a module or tariff spec is a few hundred bytes.
const MaxSpec = 1 << 20

// ParseSpec reads one spec object; unknown fields are refused so a typo is not silently ignored.
func ParseSpec(r io.Reader) (*Spec, error) {
	var s Spec
	if err := decodeSpec(r, &s, "spec"); err != nil {
		return nil, err
	}
	return &s, nil
}

// decodeSpec reads exactly one JSON object of at most MaxSpec bytes into v (a pointer to a spec
// struct), refusing unknown fields; what names the kind of spec in its errors.
func decodeSpec(r io.Reader, v any, what string) error {
	data, err := io.ReadAll(io.LimitReader(r, MaxSpec+1))
	if err != nil {
		return err
	}
	if len(data) > MaxSpec {
		return invalid("spec", "is larger than %d bytes (a %s is a few hundred); check that it is the right file", MaxSpec, what)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return specError(err, what, specFields(v))
	}
	if dec.More() {
		return invalid("spec", "must hold exactly one JSON object")
	}
	return nil
}

// specFields lists the JSON names of the spec struct v points to, for the unknown-field refusal.
func specFields(v any) string {
	t := reflect.TypeOf(v).Elem()
	names := make([]string, 0, t.NumField())
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		names = append(names, name)
	}
	return strings.Join(names, ", ")
}

// specError names the field a JSON error is about.
func specError(err error, what, fields string) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field == "":
		return invalid("spec", "must be a JSON object, not %s", te.Value)
	case errors.As(err, &te):
		return invalid(te.Field, "must be a JSON %s", te.Type)
	case errors.As(err, &se):
		return invalid("spec", "is not valid JSON at byte %d: %v", se.Offset, err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalid(f, "is not a %s field; fields: %s", what, fields)
	}
	if f, rule, ok := strings.Cut(err.Error(), ": "); ok && strings.HasPrefix(f, "json: cannot unmarshal") {
		return invalid("spec", "%s", rule)
	}
	return invalid("spec", "is not valid: %v", err)
}

// Draft turns the spec into a draft, resolving data center and department against the catalog. The
// cluster is resolved by ResolveSpecCluster once the integration check has fetched the clusters.
func (c *Catalog) Draft(s *Spec) (*Draft, error) {
	d := NewDraft()
	d.ProductType, d.Kind = normChoice(s.ProductType), normChoice(s.Module)
	d.URL, d.Username, d.InsecureTLS = strings.TrimSpace(s.URL), strings.TrimSpace(s.Username), s.InsecureTLS
	d.TLSPin, d.TLSCAFile = strings.TrimSpace(s.TLSPin), strings.TrimSpace(s.TLSCAFile)
	d.Name, d.Sort = s.Name, s.Sort
	d.UseRecipes, d.AdditionalInterface = s.UseRecipes, s.AdditionalInterface
	if s.RecipeWait != "" {
		d.RecipeWait = s.RecipeWait
	}
	if p := s.Params; p != nil {
		if p.SessionTTL != nil {
			d.Params.SessionTTL = *p.SessionTTL
		}
		if p.Queue != nil {
			d.Params.Queue = bool(*p.Queue)
		}
		if p.QueueKey != nil {
			d.Params.QueueKey = *p.QueueKey
		}
		if p.QueueCount != nil {
			d.Params.QueueCount = *p.QueueCount
		}
	}
	var err error
	if d.DataCenterID, err = c.ResolveDataCenter(s.DataCenter.Ref); err != nil {
		return nil, err
	}
	if d.DepartmentID, err = c.ResolveDepartment(s.Department.Ref); err != nil {
		return nil, err
	}
	return d, nil
}

// ResolveSpecCluster picks the spec's cluster among the fetched ones.
func (d *Draft) ResolveSpecCluster(s *Spec) error {
	id, err := ResolveCluster(d.Clusters, s.Cluster.Ref)
	if err != nil {
		return err
	}
	return d.ChooseCluster(id)
}

// AddFromSpec is `vmmpm module add --spec`: the wizard's steps without the screens. It refuses what
// can be refused offline before logging in, logs in to VMmanager with password (a failure is a
// *CheckError), picks the spec's cluster among those VMmanager lists, validates everything and saves
// the module and its password together (Save). The warnings are sentences the admin should read.
func AddFromSpec(ctx context.Context, db *store.DB, secrets store.Secrets, s *Spec, password string) (*store.Module, []string, error) {
	cat, err := LoadCatalog(db)
	if err != nil {
		return nil, nil, err
	}
	d, err := cat.Draft(s)
	if err != nil {
		return nil, nil, err
	}
	if err := cat.ValidateOffline(d); err != nil {
		return nil, nil, err
	}
	res, err := CheckIntegration(ctx, d.Integration(), password)
	if err != nil {
		return nil, nil, err
	}
	d.ApplyCheck(res)
	if err := d.ResolveSpecCluster(s); err != nil {
		return nil, nil, err
	}
	if err := cat.Validate(d); err != nil {
		return nil, nil, err
	}
	m, err := Save(db, secrets, d, password)
	if err != nil {
		return nil, nil, err
	}
	return m, cat.Warnings(d), nil
}

// ExampleSpec is a complete spec, for the README and `module add --help`.
const ExampleSpec = `{
  "product_type": "vps",
  "module": "vmmanager6",
  "url": "vmm.example.com",
  "username": "admin@example.com",
  "insecure_tls": false,
  "datacenter": "Moscow",
  "department": "Support",
  "name": "VMmanager KVM",
  "sort": 10,
  "cluster": "kvm-main",
  "use_recipes": true,
  "recipe_wait": "os",
  "additional_interface": true,
  "params": {"session_ttl": 3600, "queue": true, "queue_key": "vmm6-__PMID__", "queue_count": 3}
}`
