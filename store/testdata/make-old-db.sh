#!/bin/bash
# Writes a database with an older vmmpm, for store's upgrade test (upgrade_test.go).
# Usage: make-old-db.sh OLD_VMMPM_BINARY OUT.db   (run under /work/notes/kt.sh or any unlocked keyring)
# The binary is built from a released commit, e.g.
#   git archive e401297 | tar -x -C /tmp/r2 && (cd /tmp/r2 && go build -o /tmp/vmmpm-r2 .)
# What it writes: 1 data center, 1 department, 1 module, 1 tariff, 6 services; 6 open jobs done,
# 2 reboots done, 1 suspend cancelled, 2 reboots left queued.
set -euo pipefail
bin=$(realpath "$1"); out=$(realpath -m "$2")
work=$(mktemp -d); trap 'kill $sim 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
export VMMPM_DB="$work/vmmpm.db" VMMPM_SOCKET="$work/none.sock" VMMPM_KEYRING_SERVICE="vmmpm-testdata-$$"
"$bin" sim --task-time 50ms --seed 1 > sim.out &
sim=$!
until grep -q listening sim.out 2>/dev/null; do sleep 0.1; done
url=$(sed -n 's/^listening on \(http[^ ]*\).*/\1/p' sim.out | head -1)
"$bin" datacenter add "DC One"
"$bin" department add Support
cat > module.json <<JSON
{"product_type": "vps", "module": "vmmanager6", "url": "$url", "username": "admin@example.com",
 "datacenter": "DC One", "department": "Support", "name": "KVM old", "sort": 10, "cluster": "kvm-main",
 "params": {"queue": true, "queue_key": "vmm6-__PMID__", "queue_count": 2}}
JSON
echo demo-password | "$bin" module add --spec module.json
cat > tariff.json <<'JSON'
{"name": "VPS-old", "datacenter": "DC One", "modules": [1], "cpu": 1, "ram_mib": 1024, "disk_mib": 10240,
 "os_id": 1, "ipv4_count": 1, "domain_template": "@ID@.vps.example.com"}
JSON
"$bin" tariff add --spec tariff.json
"$bin" service create --tariff VPS-old --count 6 --client old@example.com
"$bin" engine --until-idle
"$bin" service reboot 1 2
"$bin" engine --until-idle
"$bin" service suspend 3
"$bin" jobs cancel 9
"$bin" service reboot 4 5
"$bin" jobs
secret-tool clear service "$VMMPM_KEYRING_SERVICE" 2>/dev/null || true
cp "$VMMPM_DB" "$out"
