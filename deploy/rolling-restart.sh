#!/bin/sh
# A rolling restart of the systemd shape (what `make serve-restart` does for `make serve`):
# for each web process, drain it in HAProxy, wait until it serves no HTTP request, restart
# it, wait for its /readyz, put it back. Needs socat and HAProxy's admin socket.
#   deploy/rolling-restart.sh 8001 8002 8003 8004
set -eu
SOCK=${HAPROXY_SOCKET:-/run/haproxy/admin.sock}
HOST_HEADER=${HEALTH_HOST:-localhost}
i=0
for port in "$@"; do
  i=$((i + 1)); name="w$i"
  for b in web sockets; do echo "set server $b/$name state drain" | socat stdio "$SOCK" >/dev/null; done
  for _ in $(seq 600); do  # at most 30 s
    cur=$(echo "show stat" | socat stdio "$SOCK" | awk -F, -v s="$name" '$1=="web" && $2==s {print $5+$3}')
    [ "${cur:-0}" = 0 ] && break; sleep 0.05
  done
  for b in web sockets; do echo "set server $b/$name state maint" | socat stdio "$SOCK" >/dev/null; done
  systemctl restart "xueji-web@$port"
  until curl -sf -H "Host: $HOST_HEADER" "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.2; done
  for b in web sockets; do echo "set server $b/$name state ready" | socat stdio "$SOCK" >/dev/null; done
  echo "restarted $name (port $port)"
done
