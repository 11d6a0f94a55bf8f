// Package sim is an in-memory VMmanager 6 that answers over HTTP the way the public record
// (shared/docs/vmmanager6-api.md) shows the real one does, and is strict where it is strict.
// It is part of the product (`vmmpm sim`, `vmmpm --demo`), not only a test double.
//
// # Seed data (fixed ids; other packages' tests rely on them)
//
//	account 1   admin@example.com (Config.AdminEmail), password Config.AdminPassword, roles ["@admin"]
//	cluster 1   "kvm-main", virtualization_type "kvm", node 1 "kvm-node-1"
//	            interface 0 → pool 1, interface 1 → pool 2
//	            capacity cpu_number 16384, ram_mib 33554432, storage_mib 268435456 (10,000 VMs of
//	            1 CPU, 2 GiB, 20 GiB fit; used starts at 0)
//	cluster 2   "lxd-main", virtualization_type "lxd", node 2 "lxd-node-1"
//	            interface 0 → pool 3 only (no additional interface)
//	            capacity cpu_number 128, ram_mib 262144, storage_mib 2097152
//	pool 1      "public-v4"  from 203.0.113.1  on cluster 1 interface 0
//	pool 2      "private-v4" from 10.10.0.1    on cluster 1 interface 1
//	pool 3      "lxd-v4"     from 198.51.100.1 on cluster 2 interface 0
//	            each holds Config.IPv4PoolSize addresses (default 16,384), .1–.254 of each /24 in turn
//	os 1        "Ubuntu 22.04"      clusters 1, 2
//	os 2        "Debian 12"         clusters 1, 2
//	os 3        "Ubuntu 22.04 LXD"  cluster 2 only, is_lxd_image true
//	os 4        "AlmaLinux 9"       cluster 1 only
//	recipe 1    "LAMP", recipe 2 "Docker"
//
// With Config.History, VM 1 "history-1" exists already deleted, with one finished task per operation name
// (so new VMs start at id 2). Objects created later: accounts 2, 3, … in order; hosts 1, 2, …; each host has one disk with id
// host id + 100; tasks 1, 2, … with consul_id = task id + 1000 (operations answer the consul id, which is
// what /vm/v3/task?where=((consul_id+EQ+'X')+AND+(name+EQ+'…')) polls); addresses are taken lowest first.
//
// # Errors
//
// Every error body is {"error":{"code":N,"msg":"…"}} with an optional "value" (e.g. {"param":"os"}):
//
//	401 1000  token missing, unknown or expired (token from x-xsrf-token header or ses6 cookie)
//	401 1001  wrong email or password at POST /auth/v4/public/token
//	403 1002  an @user token on an admin function (an @user sees only whoami and its own account)
//	400 2000  body is not a JSON object (an empty body counts as {}; Content-Type is never checked)
//	400 2001  malformed where=
//	400 2002  missing or invalid parameter, or a property the function does not take (named in msg and value)
//	400 2003  unknown OS, image, cluster, account, recipe, preset, node or pool; OS not on that cluster
//	400 2004  not enough cpu_number, ram_mib or storage_mib left on the cluster
//	400 2005  no IP pool on the asked interface (e.g. a second interface on cluster 2), or pool exhausted
//	400 2006  disk asked smaller than now (disks only grow; CPU and RAM may go down)
//	400 2007  account email already exists
//	409 2008  the VM is busy with another task (Config.OneTaskPerVM only)
//	404 4004  VM, disk, task or cluster does not exist (a deleted VM is gone at once)
//	404 4040  no such API function
//	405 4050  method other than GET/POST/DELETE, or not the function's method
//	500 5000  injected failure (Config.FailRate on POST/DELETE under /vm/v3, or FailNext); nothing changes
//	503 5030  instance asleep (Config.SleepEvery bursts, or Sleep)
//
// # Behaviour chosen where the record is silent
//
//   - Token lifetime counts from issue (not sliding); expires_at is "YYYY-MM-DD HH:MM:SS" UTC.
//   - Tasks run for Config.TaskTime from their start and are then "complete" or "fail" (a failed task has
//     "output" with the reason). Chained tasks start when the previous ends: recipe_run after host_create or
//     host_reinstall, host_start (start_task) after host_restart. So one operation runs one task at a time.
//   - host_create: the VM is "creating" until its task ends, then "active" (or "failed" under FailHost,
//     which frees its addresses). Addresses are reserved at the request (so exhaustion is a 400 at once)
//     and listed in ip4 once the VM is no longer creating. host_stop → "stopped", host_start → "active".
//   - resource and disk changes apply at the request, or, with defer {action: host_stop} on an active VM,
//     when the VM next stops or restarts (until then it reads back its old sizes; with
//     Config.DeferPending their tasks stay "deferred" until then too). POST /host/{id}/ip
//     adds (or, with a negative ipv4_number, removes) addresses on interface 0 at the request.
//   - Request bodies may hold only the properties public sources send (FIDELITY.md lists each behaviour
//     with its evidence); those it does not model are stored and listed back under their own names
//     (props.go). Config.Quirks departs from the record on purpose, for testing validate --deep.
//   - where=: EQ (numbers compared by value), CP (SQL LIKE: % any run, _ one character, case-insensitive),
//     AND, OR, parentheses, 'quoted' (\' and \\ escape) or bare numbers; keywords upper case only.
//     Array fields match on any element (CP also on the comma-joined list); dotted paths fan out over arrays.
//   - Latency, sleep and request counting apply to the API, not to GET /sim/stats or the other /sim/
//     control calls (control.go), which change VMs behind a client's back to stage drift.
//   - Config.SeedVMs: VMs "legacy-0001", … on cluster 1 under five @user accounts (created after the
//     admin, so accounts 2–6), active (every tenth stopped), one address each. Config.ListLimit cuts
//     list answers, as a VMmanager that pages by default would.
package sim
