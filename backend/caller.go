package backend

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"sync"
)

// Ways a call reaches the answering side.
const (
	ViaProcess = "process" // this process: a command or the TUI holding the database
	ViaSocket  = "socket"  // vmmpm serve's Unix socket: the uid is the kernel's word (SO_PEERCRED)
	ViaToken   = "token"   // the HTTPS API: User is the token's name (its role allowed the call)
	ViaTUI     = "tui"     // the TUI, holding the database itself
)

// TokenCaller is the Caller of an HTTPS API call made with the token called name.
func TokenCaller(name string) Caller { return Caller{UID: -1, User: name, Via: ViaToken} }

// Caller is who makes a call. Every call carries one in its context, so the answering side can record
// who acted (a job's By and its log lines). Over the socket it is the peer's uid as the kernel gives
// it, never a claim the client makes; the HTTPS API will add a token's name.
type Caller struct {
	UID  int    `json:"uid"`
	User string `json:"user,omitempty"`
	Via  string `json:"via"`
}

// String is the caller as a log line names it: "uid 1000 (alice)", or "token billing-prod".
func (c Caller) String() string {
	if c.Via == ViaToken {
		return "token " + c.User
	}
	if c.User == "" {
		return "uid " + strconv.Itoa(c.UID)
	}
	return fmt.Sprintf("uid %d (%s)", c.UID, c.User)
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerOf is the caller ctx carries; a call made in this process without one is this process's user.
func CallerOf(ctx context.Context) Caller {
	if c, ok := ctx.Value(callerKey{}).(Caller); ok {
		return c
	}
	return UserCaller(os.Getuid(), ViaProcess)
}

var userNames sync.Map // uid → name: /etc/passwd is read once per uid

// UserCaller is uid's Caller, with its login name when the system knows one.
func UserCaller(uid int, via string) Caller {
	c := Caller{UID: uid, Via: via}
	if name, ok := userNames.Load(uid); ok {
		c.User = name.(string)
		return c
	}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		c.User = u.Username
	}
	userNames.Store(uid, c.User)
	return c
}
