#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis the tests use are up; start them when this machine can.
# Fails (never skips) when a service stays unreachable.
set -uo pipefail

PGHOST_CHECK=${PGHOST_CHECK:-127.0.0.1}
PGPORT_CHECK=${PGPORT_CHECK:-5432}
REDIS_HOST_CHECK=${REDIS_HOST_CHECK:-127.0.0.1}
REDIS_PORT_CHECK=${REDIS_PORT_CHECK:-6379}

pg_up() { pg_isready -q -h "$PGHOST_CHECK" -p "$PGPORT_CHECK" 2>/dev/null; }
redis_up() { redis-cli -h "$REDIS_HOST_CHECK" -p "$REDIS_PORT_CHECK" ping 2>/dev/null | grep -q PONG; }

wait_for() {
  local check=$1
  for _ in $(seq 1 30); do "$check" && return 0; sleep 1; done
  return 1
}

if ! pg_up; then
  echo "PostgreSQL is not answering on $PGHOST_CHECK:$PGPORT_CHECK; starting it" >&2
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  wait_for pg_up || { echo "PostgreSQL is unavailable: the tests need it" >&2; exit 1; }
fi

if ! redis_up; then
  echo "Redis is not answering on $REDIS_HOST_CHECK:$REDIS_PORT_CHECK; starting it" >&2
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT_CHECK" --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
  wait_for redis_up || { echo "Redis is unavailable: the tests need it" >&2; exit 1; }
fi
echo "PostgreSQL and Redis are up"
