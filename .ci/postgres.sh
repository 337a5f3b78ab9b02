# Sourced by .ci/run: make a PostgreSQL server reachable on loopback and export
# POOLBOT_TEST_POSTGRES for the tests that need one. Installs Debian's server
# package when there is none; starts a throwaway cluster when none is running.
if [ -n "${POOLBOT_TEST_POSTGRES:-}" ]; then
  return 0
fi
pgbin=""
for d in /usr/lib/postgresql/*/bin /usr/local/bin; do
  if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then pgbin="$d"; break; fi
done
if [ -z "$pgbin" ]; then
  echo "installing PostgreSQL from Debian's packages"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) || true
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ]; then pgbin="$d"; break; fi
  done
fi
if [ -z "$pgbin" ]; then
  echo "no PostgreSQL server could be installed" >&2
  exit 1
fi
pgdata=$(mktemp -d /tmp/poolbot-pg.XXXXXX)
chown -R nobody "$pgdata" 2>/dev/null || true
pgport=55432
asuser() { if [ "$(id -u)" = 0 ]; then su -s /bin/sh nobody -c "$*"; else sh -c "$*"; fi; }
asuser "$pgbin/initdb -D $pgdata/data -U postgres --auth=trust -E UTF8 >/dev/null"
asuser "$pgbin/pg_ctl -D $pgdata/data -o '-p $pgport -k $pgdata -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off' -l $pgdata/log -w start >/dev/null"
export POOLBOT_TEST_POSTGRES="postgres://postgres@127.0.0.1:$pgport/postgres?sslmode=disable"
export POOLBOT_REQUIRE_POSTGRES=1
trap 'asuser "$pgbin/pg_ctl -D $pgdata/data -m fast stop >/dev/null" || true' EXIT
echo "PostgreSQL from $pgbin on 127.0.0.1:$pgport"
