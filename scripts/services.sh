#!/usr/bin/env bash
# Makes sure every service the test suite talks to is installed and answering, then prints one line each.
#
#   MariaDB     127.0.0.1:3306, root without password   (Debian mariadb-server)
#   PostgreSQL  127.0.0.1:5432, trust for postgres      (Debian postgresql)
#   Redis       127.0.0.1:6379                          (Debian redis-server)
#   Varnish     varnishd installed; the tests start their own on a free loopback port (Debian varnish)
#   Chromium    headless chromium + chromedriver for the UI test (Debian chromium, chromium-driver)
#
# Idempotent: what is installed is not installed again and what answers is not restarted, so a second run
# takes about a second. Installing needs root (or password-less sudo) and apt-get; without them the script
# stops at the first missing service with the command to run. It never changes a service it did not install.
set -euo pipefail

MYSQL_HOST=127.0.0.1 PG_HOST=127.0.0.1 REDIS_HOST=127.0.0.1
MYSQL_PORT=${NACENTO_SERVICES_MYSQL_PORT:-3306}
PG_PORT=${NACENTO_SERVICES_PG_PORT:-5432}
REDIS_PORT=${NACENTO_SERVICES_REDIS_PORT:-6379}

ok() { printf '  %-11s %s\n' "$1" "$2"; }
die() { printf 'services: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
fi

APT_UPDATED=0
install_packages() {  # install_packages SERVICE PACKAGE...
  local service=$1; shift
  if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
    die "$service is not installed and this user cannot install it (not root, no password-less sudo). Run: sudo apt-get install -y $*"
  fi
  command -v apt-get >/dev/null 2>&1 || die "$service is not installed and there is no apt-get here. Install $* with this system's package manager, then run make test again."
  if [ "$APT_UPDATED" -eq 0 ]; then
    printf '  %-11s apt-get update\n' "$service"
    $SUDO apt-get update -qq >/dev/null || die "apt-get update failed; install $* by hand"
    APT_UPDATED=1
  fi
  printf '  %-11s installing %s\n' "$service" "$*"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || die "apt-get install $* failed"
}

wait_for() {  # wait_for SERVICE SECONDS COMMAND...
  local service=$1 seconds=$2; shift 2
  for _ in $(seq 1 "$seconds"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  die "$service did not answer within $seconds s ($*)"
}

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

# --- MariaDB -----------------------------------------------------------------------------------------------
mariadb_tcp() { mysqladmin --protocol=tcp -h "$MYSQL_HOST" -P "$MYSQL_PORT" -u root ping; }
mariadb_login() { mysql --protocol=tcp -h "$MYSQL_HOST" -P "$MYSQL_PORT" -u root -e 'SELECT 1'; }

ensure_mariadb() {
  local installed=0
  if ! mariadb_login >/dev/null 2>&1; then
    if ! have mariadbd && ! have mysqld; then
      install_packages MariaDB mariadb-server mariadb-client
      installed=1
    fi
    if ! mariadb_tcp >/dev/null 2>&1; then
      local daemon=/usr/sbin/mariadbd; [ -x "$daemon" ] || daemon=/usr/sbin/mysqld
      $SUDO mkdir -p /run/mysqld && $SUDO chown mysql:mysql /run/mysqld 2>/dev/null || true
      $SUDO start-stop-daemon --start --oknodo --background --exec "$daemon" >/dev/null \
        || die "MariaDB did not start: $SUDO start-stop-daemon --start --background --exec $daemon"
    fi
    wait_for MariaDB 60 mariadb_tcp
    if ! mariadb_login >/dev/null 2>&1; then
      if [ "$installed" -eq 1 ]; then  # a fresh Debian install lets root in through the socket only
        $SUDO mysql -u root -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; FLUSH PRIVILEGES;" \
          || die "MariaDB: could not let root in over TCP without a password"
      else
        die "MariaDB answers on $MYSQL_HOST:$MYSQL_PORT but root cannot log in without a password over TCP; the tests need that (or set NACENTO_TEST_MYSQL_URL)"
      fi
    fi
  fi
  ok MariaDB "up on $MYSQL_HOST:$MYSQL_PORT ($(mysql --protocol=tcp -h "$MYSQL_HOST" -P "$MYSQL_PORT" -u root -N -e 'SELECT VERSION()'))"
}

# --- PostgreSQL --------------------------------------------------------------------------------------------
pg_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; }
pg_login() { psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -Atc 'SELECT 1' -w; }

ensure_postgresql() {
  local installed=0
  if ! have pg_ctlcluster; then
    install_packages PostgreSQL postgresql
    installed=1
  fi
  if ! pg_ready 2>/dev/null; then
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    [ -n "$version" ] || die "PostgreSQL is installed but has no cluster in /etc/postgresql (pg_createcluster <version> main)"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
    wait_for PostgreSQL 60 pg_ready
  fi
  if ! pg_login >/dev/null 2>&1; then
    if [ "$installed" -eq 1 ]; then  # Debian's default asks loopback clients for a password
      local version hba
      version=$(ls /etc/postgresql | sort -V | tail -n 1)
      hba=/etc/postgresql/$version/main/pg_hba.conf
      $SUDO sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
      $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main reload >/dev/null
      wait_for PostgreSQL 30 pg_login
    else
      die "PostgreSQL answers on $PG_HOST:$PG_PORT but user postgres cannot log in without a password; the tests need trust on loopback"
    fi
  fi
  ok PostgreSQL "up on $PG_HOST:$PG_PORT ($(psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -Atc 'SHOW server_version' -w))"
}

# --- Redis -------------------------------------------------------------------------------------------------
redis_ping() {  # PING over bash's /dev/tcp, so no redis-cli is needed
  local reply
  exec 3<>"/dev/tcp/$REDIS_HOST/$REDIS_PORT" || return 1
  printf 'PING\r\n' >&3
  IFS= read -r -t 2 reply <&3 || { exec 3<&-; return 1; }
  exec 3<&-
  [ "${reply%$'\r'}" = "+PONG" ]
}

ensure_redis() {
  if ! redis_ping 2>/dev/null; then
    have redis-server || install_packages Redis redis-server
    $SUDO mkdir -p /var/lib/redis /var/log/redis
    $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/nacento-tests.log >/dev/null \
      || die "Redis did not start (redis-server --daemonize yes --bind 127.0.0.1 --port $REDIS_PORT)"
    wait_for Redis 30 redis_ping
  fi
  ok Redis "up on $REDIS_HOST:$REDIS_PORT"
}

# --- Varnish (the tests start varnishd themselves) ---------------------------------------------------------
ensure_varnish() {
  have varnishd || install_packages Varnish varnish
  local bin; bin=$(command -v varnishd || echo /usr/sbin/varnishd)
  ok Varnish "installed ($("$bin" -V 2>&1 | head -n 1)); the tests start it on a loopback port"
}

# --- Chromium + chromedriver (the UI test) -----------------------------------------------------------------
ensure_chromium() {
  if ! have chromium || ! have chromedriver; then
    install_packages Chromium chromium chromium-driver
  fi
  local bin; bin=$(command -v chromium || echo /usr/bin/chromium)
  ok Chromium "installed ($("$bin" --version 2>/dev/null | head -n 1), $(chromedriver --version 2>/dev/null | cut -d' ' -f1-2))"
}

main() {
  echo "services the tests need:"
  ensure_mariadb
  ensure_postgresql
  ensure_redis
  ensure_varnish
  ensure_chromium
}

# Sourced (by its test), it only defines the functions.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main; fi
