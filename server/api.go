package server

import (
	"context"

	"vmmpm/backend"
	"vmmpm/store"
)

// The routes of the calls behind the HTTPS API, tokens, webhooks and the audit trail (backend/api.go).
// Token and webhook secrets cross only this owner-only socket, as module passwords do.

// SetAPI says where vmmpm serve --listen answers the HTTPS API and its certificate's fingerprint, for
// status and hello.
func (s *Server) SetAPI(url, fingerprint string) { s.api, s.fingerprint = url, fingerprint }

type (
	nameArgs struct {
		Name string `json:"name"`
	}
	authArgs struct {
		Secret string `json:"secret"`
		Role   string `json:"role"`
	}
)

func (s *Server) apiRoutes() map[string]call {
	b := s.backend
	return map[string]call{
		"order": rpc(func(ctx context.Context, o *backend.OrderRequest) (*backend.Placed, error) { return b.Order(ctx, *o) }),
		"operate": rpc(func(ctx context.Context, o *backend.OperateRequest) (*backend.Operated, error) {
			return b.Operate(ctx, *o)
		}),
		"job_action": rpc(func(ctx context.Context, a *backend.JobActionRequest) (*backend.Operated, error) {
			return b.JobAction(ctx, *a)
		}),
		"services": reads(rpc(func(ctx context.Context, q *backend.ServiceQuery) (*backend.ServicePage, error) {
			return b.Services(ctx, *q)
		})),
		"job_page": reads(rpc(func(ctx context.Context, q *backend.JobPageQuery) (*backend.JobPage, error) {
			return b.JobPage(ctx, *q)
		})),
		"add_token": rpc(func(ctx context.Context, r *backend.TokenRequest) (*backend.TokenAdded, error) {
			return b.AddToken(ctx, *r)
		}),
		"tokens":       reads(rpc(func(ctx context.Context, _ *noArgs) ([]store.Token, error) { return b.Tokens(ctx) })),
		"remove_token": rpc(func(ctx context.Context, a *nameArgs) (any, error) { return nil, b.RemoveToken(ctx, a.Name) }),
		"authenticate": reads(rpc(func(ctx context.Context, a *authArgs) (*store.Token, error) {
			return b.Authenticate(ctx, a.Secret, a.Role)
		})),
		"add_webhook": rpc(func(ctx context.Context, r *backend.WebhookRequest) (*backend.WebhookAdded, error) {
			return b.AddWebhook(ctx, *r)
		}),
		"webhooks":       reads(rpc(func(ctx context.Context, _ *noArgs) ([]store.Webhook, error) { return b.Webhooks(ctx) })),
		"remove_webhook": rpc(func(ctx context.Context, a *idArgs) (any, error) { return nil, b.RemoveWebhook(ctx, a.ID) }),
		"set_webhook_secret": rpc(func(ctx context.Context, a *secretArgs) (any, error) {
			return nil, b.SetWebhookSecret(ctx, a.ID, a.Secret)
		}),
		"test_webhook": rpc(func(ctx context.Context, a *idArgs) (*store.Delivery, error) {
			return b.TestWebhook(ctx, a.ID)
		}),
		"deliveries": reads(rpc(func(ctx context.Context, q *backend.DeliveryQuery) ([]store.Delivery, error) {
			return b.Deliveries(ctx, *q)
		})),
		"audit": reads(rpc(func(ctx context.Context, q *backend.AuditQuery) ([]store.AuditEntry, error) {
			return b.Audit(ctx, *q)
		})),
	}
}

func (c *Client) Order(ctx context.Context, o backend.OrderRequest) (*backend.Placed, error) {
	var p *backend.Placed
	err := c.call(ctx, "order", o, &p)
	return p, err
}

func (c *Client) Operate(ctx context.Context, o backend.OperateRequest) (*backend.Operated, error) {
	var op *backend.Operated
	err := c.call(ctx, "operate", o, &op)
	return op, err
}

func (c *Client) JobAction(ctx context.Context, a backend.JobActionRequest) (*backend.Operated, error) {
	var op *backend.Operated
	err := c.call(ctx, "job_action", a, &op)
	return op, err
}

func (c *Client) Services(ctx context.Context, q backend.ServiceQuery) (*backend.ServicePage, error) {
	var p backend.ServicePage
	return &p, c.call(ctx, "services", q, &p)
}

func (c *Client) JobPage(ctx context.Context, q backend.JobPageQuery) (*backend.JobPage, error) {
	var p backend.JobPage
	return &p, c.call(ctx, "job_page", q, &p)
}

// AddToken's answer carries the token itself, over the owner-only socket only.
func (c *Client) AddToken(ctx context.Context, r backend.TokenRequest) (*backend.TokenAdded, error) {
	var t *backend.TokenAdded
	err := c.call(ctx, "add_token", r, &t)
	return t, err
}

func (c *Client) Tokens(ctx context.Context) ([]store.Token, error) {
	var ts []store.Token
	err := c.call(ctx, "tokens", noArgs{}, &ts)
	return ts, err
}

func (c *Client) RemoveToken(ctx context.Context, name string) error {
	return c.call(ctx, "remove_token", nameArgs{Name: name}, nil)
}

func (c *Client) Authenticate(ctx context.Context, secret, role string) (*store.Token, error) {
	var t *store.Token
	err := c.call(ctx, "authenticate", authArgs{Secret: secret, Role: role}, &t)
	return t, err
}

// AddWebhook sends a given secret over the owner-only socket; the server writes it to its keyring.
func (c *Client) AddWebhook(ctx context.Context, r backend.WebhookRequest) (*backend.WebhookAdded, error) {
	var w *backend.WebhookAdded
	err := c.call(ctx, "add_webhook", r, &w)
	return w, err
}

func (c *Client) Webhooks(ctx context.Context) ([]store.Webhook, error) {
	var ws []store.Webhook
	err := c.call(ctx, "webhooks", noArgs{}, &ws)
	return ws, err
}

func (c *Client) RemoveWebhook(ctx context.Context, id uint64) error {
	return c.call(ctx, "remove_webhook", idArgs{ID: id}, nil)
}

// secretArgs carry a webhook's secret over the owner-only socket; the server writes it to its keyring.
type secretArgs struct {
	ID     uint64 `json:"id"`
	Secret string `json:"secret"`
}

func (c *Client) SetWebhookSecret(ctx context.Context, id uint64, secret string) error {
	return c.call(ctx, "set_webhook_secret", secretArgs{ID: id, Secret: secret}, nil)
}

func (c *Client) TestWebhook(ctx context.Context, id uint64) (*store.Delivery, error) {
	var d *store.Delivery
	err := c.call(ctx, "test_webhook", idArgs{ID: id}, &d)
	return d, err
}

func (c *Client) Deliveries(ctx context.Context, q backend.DeliveryQuery) ([]store.Delivery, error) {
	var ds []store.Delivery
	err := c.call(ctx, "deliveries", q, &ds)
	return ds, err
}

func (c *Client) Audit(ctx context.Context, q backend.AuditQuery) ([]store.AuditEntry, error) {
	var es []store.AuditEntry
	err := c.call(ctx, "audit", q, &es)
	return es, err
}
