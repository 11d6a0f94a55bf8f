package wizard

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// Spec is the JSON file `vmmpm module add --spec` reads: the wizard's fields, with data center,
// department and cluster given by name or id. The password is not in it: it comes on stdin.
type Spec struct {
	ProductType         string      `json:"product_type"`
	Module              string      `json:"module"`
	URL                 string      `json:"url"`
	Username            string      `json:"username"`
	InsecureTLS         bool        `json:"insecure_tls"`
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

// MaxSpec bounds a spec file: a module spec is a few hundred bytes.
const MaxSpec = 1 << 20

// ParseSpec reads one spec object; unknown fields are refused so a typo is not silently ignored.
func ParseSpec(r io.Reader) (*Spec, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSpec+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSpec {
		return nil, invalid("spec", "is larger than %d bytes (a module spec is a few hundred); check that it is the right file", MaxSpec)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, specError(err)
	}
	if dec.More() {
		return nil, invalid("spec", "must hold exactly one JSON object")
	}
	return &s, nil
}

// specError names the field a JSON error is about.
func specError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return invalid(te.Field, "must be a JSON %s", te.Type)
	case errors.As(err, &se):
		return invalid("spec", "is not valid JSON at byte %d: %v", se.Offset, err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalid(f, "is not a spec field; fields: product_type, module, url, username, insecure_tls, datacenter, department, name, sort, cluster, use_recipes, recipe_wait, additional_interface, params")
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
