package store

import (
	"encoding/json"
	"time"
)

// Job requests: a host whose engine stands by asks the engine's host to cancel or retry a job. The
// engine keeps its jobs in memory, so the asker does not change the job itself: it writes the
// request, the engine's host (told by the NOTIFY, reading the requests after its place in the job
// feed) carries it out through its own engine and writes the answer, which the asker waits for.
var bucketRequests = []byte("job_requests")

// Job request actions.
const (
	RequestCancel = "cancel"
	RequestRetry  = "retry"
)

// JobRequest is one request (bucketRequests: its commit number → JSON).
type JobRequest struct {
	Seq      uint64    `json:"-"`
	Job      uint64    `json:"job"`
	Action   string    `json:"action"`
	By       string    `json:"by,omitempty"` // the caller, as the audit trail says it
	At       time.Time `json:"at"`
	Answered bool      `json:"answered,omitempty"`
	Error    string    `json:"error,omitempty"` // the engine's refusal, one sentence; "" when done
}

// requestKeep is how long answered requests are kept.
const requestKeep = 10 * time.Minute

// AskJob writes r in a write transaction of its own (one request a transaction: its key is the
// commit number, as the feed's rows) and returns its number.
func AskJob(tx *Tx, r *JobRequest) (uint64, error) {
	b, err := tx.tx.CreateBucketIfNotExists(bucketRequests)
	if err != nil {
		return 0, err
	}
	n, err := tx.commitNumber(b)
	if err != nil {
		return 0, err
	}
	r.Seq = n
	v, err := json.Marshal(r)
	if err != nil {
		return 0, err
	}
	return n, b.Put(Key(n), v)
}

// JobRequestsAfter are the unanswered requests committed after row `after` (the job feed's
// numbering), oldest first.
func JobRequestsAfter(tx *Tx, after uint64) []JobRequest {
	b := tx.KV().Bucket(bucketRequests)
	if b == nil {
		return nil
	}
	var out []JobRequest
	c := b.Cursor()
	for k, v := c.Seek(Key(after + 1)); k != nil; k, v = c.Next() {
		var r JobRequest
		if json.Unmarshal(v, &r) == nil && !r.Answered {
			r.Seq = KeyID(k)
			out = append(out, r)
		}
	}
	return out
}

// GetJobRequest is request seq, false when there is none.
func GetJobRequest(tx *Tx, seq uint64) (JobRequest, bool) {
	var r JobRequest
	b := tx.KV().Bucket(bucketRequests)
	if b == nil {
		return r, false
	}
	v := b.Get(Key(seq))
	if v == nil || json.Unmarshal(v, &r) != nil {
		return r, false
	}
	r.Seq = seq
	return r, true
}

// AnswerJob records the answer to request seq (errText "" when it was carried out), and drops
// answered requests older than requestKeep, a few at a time.
func AnswerJob(tx *Tx, seq uint64, errText string, now time.Time) error {
	r, ok := GetJobRequest(tx, seq)
	if !ok {
		return nil // dropped meanwhile: nobody waits for it
	}
	r.Answered, r.Error = true, errText
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b := tx.KV().Bucket(bucketRequests)
	if err := b.Put(Key(seq), v); err != nil {
		return err
	}
	var old [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil && len(old) < 64 && KeyID(k) < seq; k, v = c.Next() { // never the one answered now
		var o JobRequest
		if json.Unmarshal(v, &o) != nil || !o.Answered || now.Sub(o.At) < requestKeep {
			break
		}
		old = append(old, append([]byte(nil), k...))
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
