#!/usr/bin/env bash
# A private dockerd for the Docker backend's tests: its own data root, exec root and socket under DIR, and no
# iptables rules, bridge or masquerading (sandboxes have no network), so it leaves the host as it found it.
#   scripts/dockerd.sh start DIR   # prints the DOCKER_HOST to use
#   scripts/dockerd.sh stop DIR    # stops it and removes DIR
set -euo pipefail
action=${1:?start or stop}
dir=${2:?a directory}
socket="unix://$dir/docker.sock"

case "$action" in
start)
  mkdir -p "$dir"
  dockerd --data-root "$dir/data" --exec-root "$dir/exec" -H "$socket" --pidfile "$dir/dockerd.pid" \
    --iptables=false --ip6tables=false --bridge=none --ip-masq=false --userland-proxy=false \
    >"$dir/dockerd.log" 2>&1 &
  for _ in $(seq 1 120); do
    if docker -H "$socket" version >/dev/null 2>&1; then
      echo "$socket"
      exit 0
    fi
    sleep 0.5
  done
  echo "dockerd did not answer on $socket within 60 s; its log:" >&2
  cat "$dir/dockerd.log" >&2
  exit 1
  ;;
stop)
  if [ -f "$dir/dockerd.pid" ]; then
    pid=$(cat "$dir/dockerd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
  # Overlay mounts of containers that were still running when it stopped.
  grep -o " $dir/[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2
  exit 2
  ;;
esac
