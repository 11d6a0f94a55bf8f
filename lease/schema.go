// Package lease shares a queue's lanes among engines on several hosts through PostgreSQL: an
// engine works a lane only while it holds the lane's lease (database time), each claim raises the
// lane's epoch, and every job transition is fenced by that epoch (Guard, Start, Finish), so an
// engine that paused past its lease can no longer change anything. The rules that keep one
// operation running per queue key and per service live in the database (the running table).
package lease

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is what both a pool and a transaction offer; the calls that must hold locks take a pgx.Tx.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Lane is one lane of the queue: a queue key (queue.QueueKey's form) within a module.
type Lane struct {
	Module int64  `json:"module"`
	Key    string `json:"key"`
}

func (l Lane) String() string { return fmt.Sprintf("lane %s of module %d", l.Key, l.Module) }

// schema is created once per database, as one implicit transaction (a multi-statement simple
// query); the advisory lock keeps engines joining together from racing on CREATE TABLE IF NOT EXISTS.
const schema = `
SELECT pg_advisory_xact_lock(7252501);
CREATE TABLE IF NOT EXISTS engines (
	id bigserial PRIMARY KEY,
	host text NOT NULL,
	pid integer NOT NULL,
	version text NOT NULL,
	started_at timestamptz NOT NULL DEFAULT now(),
	renewed_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS module_passwords (
	module_id bigint PRIMARY KEY,
	version bigint NOT NULL
);
ALTER TABLE module_passwords ADD COLUMN IF NOT EXISTS sets bigint NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS engine_passwords (
	engine_id bigint NOT NULL REFERENCES engines ON DELETE CASCADE,
	module_id bigint NOT NULL,
	version bigint NOT NULL,
	PRIMARY KEY (engine_id, module_id)
);
CREATE TABLE IF NOT EXISTS lanes (
	module_id bigint NOT NULL,
	queue_key text NOT NULL,
	holder bigint REFERENCES engines ON DELETE SET NULL,
	epoch bigint NOT NULL DEFAULT 0,
	lease_until timestamptz NOT NULL DEFAULT '-infinity',
	claimed_at timestamptz,
	PRIMARY KEY (module_id, queue_key)
);
CREATE INDEX IF NOT EXISTS lanes_holder ON lanes (holder);
CREATE TABLE IF NOT EXISTS running (
	job_id bigint PRIMARY KEY,
	service_id bigint NOT NULL UNIQUE,
	module_id bigint NOT NULL,
	queue_key text NOT NULL,
	epoch bigint NOT NULL,
	started_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (module_id, queue_key),
	FOREIGN KEY (module_id, queue_key) REFERENCES lanes
);`

// Migrate creates the tables when they are missing; Join calls it.
func Migrate(ctx context.Context, db DB) error {
	if _, err := db.Exec(ctx, schema); err != nil {
		return fmt.Errorf("lease: create the tables: %w", err)
	}
	return nil
}

// AddLane makes a lane known (free until an engine claims it); adding it again changes nothing.
func AddLane(ctx context.Context, db DB, l Lane) error {
	_, err := db.Exec(ctx, `INSERT INTO lanes (module_id, queue_key) VALUES ($1, $2) ON CONFLICT DO NOTHING`, l.Module, l.Key)
	return err
}

// RecordPassword records that a host's keyring was just given module's password, held being the
// version that keyring held before (0: none), and returns the version it holds now. A host that held
// the current version changed the password: the version goes up, and every other host lacks it until
// it is given the new one. A host that held none or an older one was given the current password (how
// a new host, or one behind, catches up): the version stays. The first password recorded is version 1.
// Every call counts in sets, so engines polling ModulePasswords see a catch-up too.
func RecordPassword(ctx context.Context, db DB, module, held int64) (int64, error) {
	var v int64
	err := db.QueryRow(ctx, `INSERT INTO module_passwords AS mp (module_id, version, sets) VALUES ($1, 1, 1)
		ON CONFLICT (module_id) DO UPDATE SET sets = mp.sets + 1,
			version = CASE WHEN mp.version = $2 THEN mp.version + 1 ELSE mp.version END
		RETURNING version`, module, held).Scan(&v)
	return v, err
}

// A webhook's signing secret counts in the choice of the engine's host as a module password does (a
// host lacking it would send nothing for that webhook): its slot in module_passwords and
// engine_passwords is the negative of the webhook's id, always at version 1, as a secret has no
// versions (the database's check of it, store.SecretCheck, refuses a wrong one before it is kept).

// WebhookSlot is webhook id's slot among the module ids.
func WebhookSlot(id uint64) int64 { return -int64(id) }

// SlotWebhook is the webhook whose slot m is (ok false for a module).
func SlotWebhook(m int64) (id uint64, ok bool) { return uint64(-m), m < 0 }

// RecordWebhook makes webhook id's slot, or counts one more host given its secret (sets, so the
// engines polling ModulePasswords read what each holds again): the engine then goes to a host
// holding it.
func RecordWebhook(ctx context.Context, db DB, id uint64) error {
	_, err := db.Exec(ctx, `INSERT INTO module_passwords AS mp (module_id, version, sets) VALUES ($1, 1, 1)
		ON CONFLICT (module_id) DO UPDATE SET sets = mp.sets + 1`, WebhookSlot(id))
	return err
}

// KnowWebhooks makes the slots of webhooks ids that have none (webhooks added before slots were kept),
// counting no set.
func KnowWebhooks(ctx context.Context, db DB, ids []uint64) error {
	slots := make([]int64, len(ids))
	for i, id := range ids {
		slots[i] = WebhookSlot(id)
	}
	_, err := db.Exec(ctx, `INSERT INTO module_passwords (module_id, version, sets)
		SELECT s, 1, 1 FROM unnest($1::bigint[]) AS s ON CONFLICT (module_id) DO NOTHING`, slots)
	return err
}

// ForgetPassword drops a module's password versions (the module was removed), or a webhook's slot.
func ForgetPassword(ctx context.Context, db DB, module int64) error {
	_, err := db.Exec(ctx, `DELETE FROM module_passwords WHERE module_id = $1`, module)
	return err
}

// PasswordState is a module's current password version and how many times any host set it.
type PasswordState struct{ Version, Sets int64 }

// ModulePasswords reads every module's password state (modules never recorded are absent).
func ModulePasswords(ctx context.Context, db DB) (map[int64]PasswordState, error) {
	out := map[int64]PasswordState{}
	err := scanEach(ctx, db, func(r pgx.Rows) error {
		var m int64
		var s PasswordState
		err := r.Scan(&m, &s.Version, &s.Sets)
		out[m] = s
		return err
	}, `SELECT module_id, version, sets FROM module_passwords`)
	return out, err
}
