package server

import (
	"encoding/json"

	"vmmpm/backend"
	"vmmpm/store"
	"vmmpm/wizard"
)

// The protocol (ARCHITECTURE.md, "The socket protocol"): every call is POST /v1/<name> with a JSON
// body and the header X-Vmmpm-Version; the answer is an envelope with result and/or error. Events
// are GET /v1/events?since=N, one JSON event per line.
const (
	versionHeader = "X-Vmmpm-Version"
	pathPrefix    = "/v1/"
	eventsPath    = "/v1/events"
	// MaxBody bounds a request body; a tariff or module spec is a few hundred bytes.
	MaxBody = 1 << 20
)

// envelope is every answer's shape. Both parts may be set (a failed check still reports the check).
type envelope struct {
	Result json.RawMessage    `json:"result,omitempty"`
	Error  *backend.WireError `json:"error,omitempty"`
}

type (
	noArgs   struct{}
	kindArgs struct {
		Kind string `json:"kind"`
	}
	recordArgs struct {
		Kind string `json:"kind"`
		ID   uint64 `json:"id"`
	}
	saveArgs struct {
		Kind   string          `json:"kind"`
		Record json.RawMessage `json:"record"`
	}
	saveResult struct {
		Record   json.RawMessage `json:"record"`
		Warnings []string        `json:"warnings,omitempty"`
	}
	listingResult struct {
		Records any            `json:"records"`
		Names   *backend.Names `json:"names"`
	}
	listingAnswer struct {
		Records json.RawMessage `json:"records"`
		Names   *backend.Names  `json:"names"`
	}
	warningsResult struct {
		Warnings []string `json:"warnings,omitempty"`
	}
	idsArgs struct {
		IDs []uint64 `json:"ids"`
	}
	idArgs struct {
		ID uint64 `json:"id"`
	}
	deepArgs struct {
		ID uint64 `json:"id"`
		backend.DeepOptions
	}
	saveModuleArgs struct {
		Draft    *wizard.Draft `json:"draft"`
		Password string        `json:"password"`
	}
	checkArgs struct {
		Integration wizard.Integration `json:"integration"`
		Password    string             `json:"password"`
		Stored      uint64             `json:"stored"`
	}
	placementArgs struct {
		DataCenter string `json:"datacenter"`
		Department string `json:"department"`
	}
	setModuleArgs struct {
		ID      uint64                `json:"id"`
		Changes *wizard.ModuleChanges `json:"changes"`
	}
	moduleResult struct {
		Module   *store.Module `json:"module"`
		Warnings []string      `json:"warnings,omitempty"`
	}
	passwordArgs struct {
		ID       uint64 `json:"id"`
		Password string `json:"password"`
	}
	enqueueArgs struct {
		Service uint64            `json:"service"`
		Op      string            `json:"op"`
		Args    map[string]string `json:"args,omitempty"`
	}
	createArgs struct {
		Tariff string `json:"tariff"` // its id or its name
		Count  int    `json:"count"`
		Client string `json:"client"`
	}
	// The password crosses only the owner-only socket, as save_module's does.
	addModuleArgs struct {
		Spec     *wizard.Spec `json:"spec"`
		Password string       `json:"password"`
	}
	tariffSpecArgs struct {
		ID   uint64             `json:"id"`
		Spec *wizard.TariffSpec `json:"spec"`
	}
)
