package server

import (
	"context"

	"vmmpm/backend"
	"vmmpm/store"
)

// backupRoutes: the server writes the copy itself (it holds the database), to the absolute path the
// client resolved in its own working directory; the server runs as the same user.
func (s *Server) backupRoutes() map[string]call {
	b := s.backend
	return map[string]call{
		"backup": rpc(func(ctx context.Context, r *backend.BackupRequest) (*store.BackupInfo, error) {
			return b.Backup(ctx, *r)
		}),
	}
}

func (c *Client) Backup(ctx context.Context, r backend.BackupRequest) (*store.BackupInfo, error) {
	var out store.BackupInfo
	if err := c.call(ctx, "backup", r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
