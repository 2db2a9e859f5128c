#!/usr/bin/env bash
# A throwaway Postgres for tests and benchmarks, from Debian's postgresql package.
#   postgres-test.sh start DIR   initdb in DIR/data (DIR: e.g. a fresh folder in /tmp; it is
#                                handed to the postgres user), start on a free loopback port with
#                                wal_level=logical; prints the port on stdout
#   postgres-test.sh stop DIR    stops it (immediate shutdown; DIR is the caller's to remove)
# Postgres refuses to run as root: as root, the server runs as the `postgres` user.
# fsync is off: the data is thrown away, and the tests kill clients, never the server.
set -euo pipefail
cmd=${1:?usage: postgres-test.sh start|stop DIR}
dir=${2:?usage: postgres-test.sh start|stop DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ]; then
  echo "postgres-test: no /usr/lib/postgresql/*/bin: apt-get install postgresql (scripts/install-deps.sh)" >&2
  exit 1
fi
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    chmod 700 "$dir"
    as_postgres "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    # A port picked free can be taken before the server binds it: try a few.
    for _ in 1 2 3 4 5; do
      port=$(free_port)
      if as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 -o \
        "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c wal_level=logical -c max_replication_slots=20 -c max_wal_senders=20 -c fsync=off -c full_page_writes=off" \
        start >/dev/null 2>&1; then
        echo "$port"
        exit 0
      fi
    done
    cat "$dir/postgres.log" >&2
    exit 1
    ;;
  stop)
    [ -d "$dir/data" ] && as_postgres "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    ;;
  *)
    echo "postgres-test: unknown command $cmd (start|stop)" >&2
    exit 2
    ;;
esac
