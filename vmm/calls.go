package vmm

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// CheckAdmin logs in afresh (so it tests the credentials even when a token is cached) and requires the
// account to hold "@admin", the way ISPsystem's WHMCS module validates its server settings.
func (c *Client) CheckAdmin(ctx context.Context) error {
	o, err := c.freshOp(ctx)
	if err != nil {
		return err
	}
	acc, err := c.findAccount(ctx, o, c.email)
	switch {
	case errors.Is(err, ErrForbidden):
		return &kindError{kind: ErrNotAdmin, cause: err,
			msg: "the account " + c.email + " may not list VMmanager accounts, so it is not an administrator"}
	case err != nil:
		return err
	case acc == nil:
		return errorf(ErrNotAdmin, "the account %s is not among the accounts VMmanager lists, so it is not an administrator", c.email)
	case acc.Roles == nil:
		return errorf(ErrNotAdmin, "VMmanager lists the account %s without roles, so vmmpm cannot tell that it holds @admin", c.email)
	case len(acc.Roles) == 0:
		return errorf(ErrNotAdmin, "VMmanager lists the account %s with an empty roles list, so it is not an administrator", c.email)
	case !acc.IsAdmin():
		return errorf(ErrNotAdmin, "the account %s is not a VMmanager administrator: its roles are %s, without @admin", c.email,
			strings.Join(acc.Roles, ", "))
	}
	return nil
}

// Clusters lists the clusters with their virtualization type and the interfaces that have IP pools.
func (c *Client) Clusters(ctx context.Context) ([]Cluster, error) {
	ws, err := list[wireCluster](ctx, c, c.op(), "/vm/v3/cluster")
	return convert(ws, err, wireCluster.cluster)
}

// IPPools lists the IP pools.
func (c *Client) IPPools(ctx context.Context) ([]IPPool, error) {
	ws, err := list[wirePool](ctx, c, c.op(), "/vm/v3/ippool")
	return convert(ws, err, wirePool.pool)
}

// OSList lists the OS images.
func (c *Client) OSList(ctx context.Context) ([]OS, error) {
	ws, err := list[wireOS](ctx, c, c.op(), "/vm/v3/os")
	return convert(ws, err, wireOS.os)
}

// Recipes lists the recipes.
func (c *Client) Recipes(ctx context.Context) ([]Recipe, error) {
	ws, err := list[wireRecipe](ctx, c, c.op(), "/vm/v3/recipe")
	return convert(ws, err, func(w wireRecipe) Recipe { return Recipe{ID: uint64(w.ID), Name: w.Name} })
}

// FindAccount looks an account up by email. No such account is (nil, nil), not an error.
func (c *Client) FindAccount(ctx context.Context, email string) (*Account, error) {
	return c.findAccount(ctx, c.op(), email)
}

func (c *Client) findAccount(ctx context.Context, o *op, email string) (*Account, error) {
	ws, err := list[wireAccount](ctx, c, o, "/vm/v3/account"+where(eq("email", email)))
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		if strings.EqualFold(w.Email, email) {
			a := w.account()
			return &a, nil
		}
	}
	return nil, nil
}

// CreateAccount creates a customer account (role "@user") and returns its id.
func (c *Client) CreateAccount(ctx context.Context, email, password string) (uint64, error) {
	if email == "" || password == "" {
		return 0, errorf(ErrInvalid, "a new VMmanager account needs an email and a password")
	}
	var ans struct {
		ID flexID `json:"id"`
	}
	body := map[string]string{"email": email, "password": password, "role": "@user"}
	if err := c.object(ctx, c.op(), http.MethodPost, "/vm/v3/account", body, &ans); err != nil {
		return 0, hidePassword(err, password)
	}
	if ans.ID == 0 {
		return 0, errorf(ErrBadAnswer, "VMmanager created the account %s but sent no id", email)
	}
	c.rememberAccount(Account{ID: uint64(ans.ID), Email: email, Roles: []string{"@user"}})
	return uint64(ans.ID), nil
}

func convert[W, T any](ws []W, err error, f func(W) T) ([]T, error) {
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(ws))
	for _, w := range ws {
		out = append(out, f(w))
	}
	return out, nil
}

// eq is one `field EQ 'value'` term of a where= filter.
type term struct{ field, value string }

func eq(field, value string) term { return term{field, value} }

// where builds ?where=(a+EQ+'x') or ?where=((a+EQ+'x')+AND+(b+EQ+'y')). Spaces are written as '+';
// in values a quote or backslash gets a backslash, and characters other than letters, digits and -._~@
// are percent-encoded, so a '+' in an email stays a '+'.
func where(terms ...term) string {
	parts := make([]string, 0, len(terms))
	for _, t := range terms {
		parts = append(parts, whereTerm(t))
	}
	if len(parts) == 1 {
		return "?where=" + parts[0]
	}
	return "?where=(" + strings.Join(parts, "+AND+") + ")"
}

// whereTerm is one term in parentheses: (field+EQ+'value').
func whereTerm(t term) string {
	v := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(t.value)
	return "(" + t.field + "+EQ+'" + escapeValue(v) + "')"
}

func escapeValue(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9',
			ch == '-', ch == '.', ch == '_', ch == '~', ch == '@':
			b.WriteByte(ch)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[ch>>4])
			b.WriteByte(hex[ch&15])
		}
	}
	return b.String()
}
