#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer on loopback; starts them the way this machine kind does.
set -euo pipefail
pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_ready() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
if ! pg_ready && command -v pg_ctlcluster >/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
fi
if ! redis_ready && command -v redis-server >/dev/null; then
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
for _ in $(seq 1 30); do
  pg_ready && redis_ready && exit 0
  sleep 1
done
pg_ready || { echo "services: PostgreSQL does not answer on 127.0.0.1:5432" >&2; exit 1; }
redis_ready || { echo "services: Redis does not answer on 127.0.0.1:6379" >&2; exit 1; }
