#!/usr/bin/env bash
# Measures weft's servers and their peers under the same load, in the same
# run, on loopback: TCP echo (a hand-written C epoll server, Go, weft) with
# weft's load generator, and HTTP hello (nginx, Go net/http, weft) with wrk.
#
# usage: tools/run_io_peers.sh [options] [BUILD_DIR]
#   --echo-load PATH   weft's bench/echo_load: the echo load generator
#   --weft-echo PATH   examples/echo_server (run twice: --workers 2, and --workers 1
#                      as weft-1w, the shape of the single-threaded C server;
#                      with --quiet and --backlog 1024, not the seed's 5)
#   --weft-http PATH   examples/http_hello (run as --port P --workers 2)
#   --weft-echo-service PATH  examples/echo_service, on weft::net::Server (rows
#                      weft-svc, --workers 2, and weft-svc-1w, --workers 1)
#   --seconds S        length of each echo and wrk run (default 10)
#   --reps N           runs of each measurement; medians are reported (default 1)
#   --quick            2-second runs, 100 connections only: a smoke test
#   --install          apt-get install wrk, nginx, golang-go if missing (as
#                      root, or with sudo -n)
#   BUILD_DIR          where peers are built and logs go (default build/io-peers)
#   PEERS_BIN          if set, a directory holding a CMake-built
#                      peer_c_echo_epoll; otherwise it is compiled here (cc -O2)
# Echo: each server gets --connections 100 and 1000, --size 64; the line
# reports the load generator's rps, p50 and p99, and the server's CPU per
# round trip: utime+stime of the server (and its child processes) from
# /proc/PID/stat before and after the run, divided by rps x seconds.
# HTTP: wrk -t1 -cN -dS --latency, N = 100 and 1000; rps, p50, p99, and the
# server's CPU per request the same way.
# Whatever is missing (a binary, wrk, nginx, go) is skipped with a message.
# Exits non-zero if a server that was there fails to start or to answer.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
echo_load="" weft_echo="" weft_http="" weft_svc="" build=""
seconds=10 reps=1 quick=0 install=0
while (($#)); do
  case "$1" in
    --echo-load) echo_load="$2"; shift ;;
    --weft-echo) weft_echo="$2"; shift ;;
    --weft-http) weft_http="$2"; shift ;;
    --weft-echo-service) weft_svc="$2"; shift ;;
    --seconds) seconds="$2"; shift ;;
    --reps) reps="$2"; shift ;;
    --quick) quick=1 ;;
    --install) install=1 ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    -*) echo "run_io_peers: unknown flag $1" >&2; exit 2 ;;
    *) build="$1" ;;
  esac
  shift
done
conns=(100 1000)
if ((quick)); then seconds=2; conns=(100); fi
build="${build:-$repo/build/io-peers}"
mkdir -p "$build"
build="$(cd "$build" && pwd)"
log="$build/logs"
mkdir -p "$log"

say() { echo "run_io_peers: $*" >&2; }
failed=0

# --- tools -------------------------------------------------------------------
if ((install)); then
  missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
  command -v go >/dev/null || missing+=(golang-go)
  if ((${#missing[@]})); then
    if [[ "$(id -u)" -eq 0 ]]; then as_root=(env DEBIAN_FRONTEND=noninteractive)
    else as_root=(sudo -n env DEBIAN_FRONTEND=noninteractive); fi
    "${as_root[@]}" apt-get update
    # policy-rc.d (where present) keeps the nginx package from starting a daemon.
    "${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
  fi
fi
nginx_bin="$(command -v nginx || true)"
[[ -z "$nginx_bin" && -x /usr/sbin/nginx ]] && nginx_bin=/usr/sbin/nginx
have_wrk=0; command -v wrk >/dev/null && have_wrk=1
have_go=0; command -v go >/dev/null && have_go=1
((have_wrk)) || say "wrk not found (apt-get install wrk, or --install): skipping HTTP"
[[ -n "$nginx_bin" ]] || say "nginx not found (apt-get install nginx, or --install): skipping nginx"
((have_go)) || say "go not found (apt-get install golang-go, or --install): skipping Go peers"
for v in echo_load weft_echo weft_http weft_svc; do
  p="${!v}"
  if [[ -n "$p" && ! -x "$p" ]]; then say "--${v//_/-} $p is not an executable: skipping it"; printf -v "$v" ''; fi
done
[[ -n "$echo_load" ]] || say "no --echo-load: skipping the echo servers"
[[ -n "$echo_load" && -z "$weft_echo" ]] && say "no --weft-echo: skipping weft's echo server"
[[ -z "$weft_http" ]] && ((have_wrk)) && say "no --weft-http: skipping weft's http_hello"

# 1000 connections need ~1000 fds in the client and as many in the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < 4096)); then
  say "open-file limit is $(ulimit -n): 1000 connections may fail (raise the hard limit)"
fi

# --- build -------------------------------------------------------------------
c_echo=""
if [[ -n "${PEERS_BIN:-}" && -x "$PEERS_BIN/peer_c_echo_epoll" ]]; then
  c_echo="$PEERS_BIN/peer_c_echo_epoll"
elif command -v cc >/dev/null; then
  c_echo="$build/echo_epoll"
  cc -O2 -o "$c_echo" "$repo/bench/peers/c/echo_epoll.c"
else
  say "no C compiler: skipping the C echo server"
fi
go_echo="" go_http=""
if ((have_go)); then
  # GOPATH mode, standard library only: builds offline, no module download.
  (
    unset GOFLAGS
    export GOCACHE="$build/gocache" GOPATH="$build/gopath" GO111MODULE=off
    cd "$repo/bench/peers/go"
    go build -o "$build/go_echo" ./echo
    go build -o "$build/go_httphello" ./httphello
  )
  go_echo="$build/go_echo" go_http="$build/go_httphello"
fi
# The peers see their runtimes' defaults (GOMAXPROCS = cores, GC on).
unset GOMAXPROCS GOGC

# --- servers -----------------------------------------------------------------
# A TCP port nobody listens on, from the ephemeral-port-free range.
free_port() {
  local p used="" _sl addr _rest
  while read -r _sl addr _rest; do
    [[ "$addr" == *:* ]] && used+=" $((16#${addr##*:})) "
  done < <(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null)
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 12000))
    [[ "$used" == *" $p "* ]] || { echo "$p"; return; }
  done
  say "no free port found"; return 1
}

server_pid=""
ngx_prefix=""
stop_server() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
  [[ -n "$ngx_prefix" ]] && rm -rf "$ngx_prefix"
  ngx_prefix=""
}
trap stop_server EXIT

# start_server NAME PORT CMD...: starts it in the background (logging to
# $log/NAME.log) and waits up to 10 s for PORT to accept connections.
start_server() {
  local name="$1" port="$2"; shift 2
  "$@" >"$log/$name.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 200); do
    server_alive || break
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  say "FAILED: $name did not start listening on $port (see $log/$name.log)"
  stop_server
  failed=1
  return 1
}

# True while the server runs (a dead child stays a zombie until waited for).
server_alive() {
  local stat
  stat="$(cat "/proc/$server_pid/stat" 2>/dev/null)" || return 1
  [[ "${stat##*) }" != Z* ]]
}

# CPU ticks (utime + stime) of PID and of every descendant (nginx's workers).
tree_ticks() {
  local pid="$1" total=0 stat rest child
  if stat="$(cat "/proc/$pid/stat" 2>/dev/null)"; then
    rest="${stat##*) }"  # past "pid (comm) ", whatever comm holds
    read -r -a f <<<"$rest"
    total=$((f[11] + f[12]))  # fields 14 and 15 of stat
  fi
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
    total=$((total + $(tree_ticks "$child")))
  done
  echo "$total"
}
hz="$(getconf CLK_TCK)"

results="$build/results.txt"
: >"$results"

# report PEER BENCH RPS P50_US P99_US TICKS SECONDS [EXTRA]: one result line.
report() {
  local peer="$1" bench="$2" rps="$3" p50="$4" p99="$5" ticks="$6" secs="$7" extra="${8:-}"
  local cpu
  cpu="$(awk -v t="$ticks" -v hz="$hz" -v rps="$rps" -v s="$secs" \
    'BEGIN { n = rps * s; if (n > 0) printf "%.2f", t / hz * 1e6 / n; else print "nan" }')"
  echo "peer=$peer bench=$bench rps=$rps p50_us=$p50 p99_us=$p99 cpu_us_per_op=$cpu${extra:+ $extra}" |
    tee -a "$results" >&2
}

# echo_run PEER CONNS CMD...: one server, one load run.
echo_run() {
  local peer="$1" c="$2"; shift 2
  local port out before after
  port="$(free_port)" || { failed=1; return; }
  local cmd=("$@")
  cmd=("${cmd[@]//@PORT@/$port}")
  start_server "$peer" "$port" "${cmd[@]}" || return 0
  before="$(tree_ticks "$server_pid")"
  if ! out="$(timeout $((seconds + 60)) "$echo_load" --host 127.0.0.1 --port "$port" \
      --connections "$c" --seconds "$seconds" --size 64 2>>"$log/echo_load.log")"; then
    say "FAILED: echo_load against $peer -c$c"; failed=1; stop_server; return
  fi
  after="$(tree_ticks "$server_pid")"
  if ! server_alive; then
    say "FAILED: $peer died during the run (see $log/$peer.log)"; failed=1; stop_server; return 0
  fi
  stop_server
  local line rps p50 p99
  line="$(grep -E '(^| )rps=' <<<"$out" | tail -1)"
  rps="$(grep -oE 'rps=[0-9.]+' <<<"$line" | cut -d= -f2)"
  p50="$(grep -oE 'p50_us=[0-9.]+' <<<"$line" | cut -d= -f2)"
  p99="$(grep -oE 'p99_us=[0-9.]+' <<<"$line" | cut -d= -f2)"
  if [[ -z "$rps" ]]; then
    say "FAILED: no rps= line from echo_load against $peer -c$c: $out"; failed=1; return
  fi
  report "$peer" "echo/c$c" "$rps" "${p50:-nan}" "${p99:-nan}" $((after - before)) "$seconds"
}

# wrk's latency ("812.00us", "1.23ms", "2.01s") in microseconds.
to_us() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "ms") n *= 1e3; else if (u == "s") n *= 1e6; else if (u == "m") n *= 6e7
    printf "%.0f", n }'
}

# http_run PEER CONNS CMD...: one server, one wrk run.
http_run() {
  local peer="$1" c="$2"; shift 2
  local port out before after
  port="$(free_port)" || { failed=1; return; }
  local cmd=("$@")
  cmd=("${cmd[@]//@PORT@/$port}")
  if [[ "$peer" == nginx ]]; then
    ngx_prefix="$(mktemp -d "$build/nginx.XXXXXX")"
    local user_line=""
    ((EUID == 0)) && user_line="s|@USER@|$(id -un)|; s|@GROUP@|$(id -gn)|"
    sed -e "s|@PREFIX@|$ngx_prefix|g; s|@PORT@|$port|g; ${user_line:-/^user @USER@/d}" \
      "$repo/bench/peers/nginx/nginx.conf.in" >"$ngx_prefix/nginx.conf"
    cmd=("${cmd[@]//@NGX@/$ngx_prefix}")
  fi
  start_server "$peer" "$port" "${cmd[@]}" || return 0
  before="$(tree_ticks "$server_pid")"
  if ! out="$(timeout $((seconds + 60)) wrk -t1 -c"$c" -d"${seconds}s" --latency \
      "http://127.0.0.1:$port/" 2>&1)"; then
    say "FAILED: wrk against $peer -c$c"; failed=1; stop_server; return
  fi
  after="$(tree_ticks "$server_pid")"
  echo "$out" >"$log/wrk-$peer-c$c.txt"
  if ! server_alive; then
    say "FAILED: $peer died during the run (see $log/$peer.log)"; failed=1; stop_server; return 0
  fi
  stop_server
  local rps p50 p99 errs non2xx
  rps="$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")"
  p50="$(awk '$1 == "50%" { print $2 }' <<<"$out")"
  p99="$(awk '$1 == "99%" { print $2 }' <<<"$out")"
  errs="$(awk '/Socket errors:/ { sub(/^ *Socket errors: */, ""); gsub(/, /, ","); gsub(/ /, ":"); print }' <<<"$out")"
  non2xx="$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")"
  if [[ -z "$rps" || -z "$p99" ]]; then
    say "FAILED: could not read wrk's output for $peer -c$c (see $log/wrk-$peer-c$c.txt)"
    failed=1; return
  fi
  local extra=""
  [[ -n "$errs" ]] && extra="socket_errors=$errs"
  [[ -n "$non2xx" ]] && extra="${extra:+$extra }non2xx=$non2xx"
  report "$peer" "http/c$c" "$rps" "$(to_us "$p50")" "$(to_us "$p99")" \
    $((after - before)) "$seconds" "$extra"
}

# --- run ---------------------------------------------------------------------
# Servers take turns inside each repetition, so slow drifts of this shared
# machine spread over all of them.
for ((rep = 1; rep <= reps; rep++)); do
  ((reps > 1)) && say "repetition $rep/$reps"
  if [[ -n "$echo_load" ]]; then
    for c in "${conns[@]}"; do
      [[ -n "$c_echo" ]] && echo_run c_epoll "$c" "$c_echo" --port @PORT@
      [[ -n "$go_echo" ]] && echo_run go "$c" "$go_echo" --port @PORT@
      # --backlog 1024: the seed's listen(5) would drop the connection burst
      # (1024 was TcpListener's default, which the example used before it
      # became the seed's port).
      [[ -n "$weft_echo" ]] && echo_run weft "$c" "$weft_echo" --port @PORT@ --workers 2 --quiet \
        --backlog 1024
      # One worker: the same shape as the single-threaded C server, leaving
      # the other core to the load generator on a 2-core machine.
      [[ -n "$weft_echo" ]] && echo_run weft-1w "$c" "$weft_echo" --port @PORT@ --workers 1 --quiet \
        --backlog 1024
      [[ -n "$weft_svc" ]] && echo_run weft-svc "$c" "$weft_svc" --port=@PORT@ --workers=2
      [[ -n "$weft_svc" ]] && echo_run weft-svc-1w "$c" "$weft_svc" --port=@PORT@ --workers=1
    done
  fi
  if ((have_wrk)); then
    for c in "${conns[@]}"; do
      [[ -n "$nginx_bin" ]] && http_run nginx "$c" "$nginx_bin" -p @NGX@ -e @NGX@/error.log \
        -c @NGX@/nginx.conf
      [[ -n "$go_http" ]] && http_run go "$c" "$go_http" --port @PORT@
      [[ -n "$weft_http" ]] && http_run weft "$c" "$weft_http" --port @PORT@ --workers 2
    done
  fi
done

# --- report ------------------------------------------------------------------
# Medians per (peer, bench), then weft's ratios to the baselines the io issue
# names: the C epoll server for echo, nginx for HTTP.
echo
awk '
  function median(key, col,    n, i, j, x, v) {
    n = count[key]
    for (i = 1; i <= n; i++) v[i] = vals[key, i, col]
    for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
    return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  {
    delete f
    for (i = 1; i <= NF; i++) { k = $i; sub(/=.*/, "", k); f[k] = substr($i, length(k) + 2) }
    key = f["peer"] SUBSEP f["bench"]
    if (!(key in count)) order[++nkeys] = key
    c = ++count[key]
    vals[key, c, "rps"] = f["rps"] + 0; vals[key, c, "p50"] = f["p50_us"] + 0
    vals[key, c, "p99"] = f["p99_us"] + 0; vals[key, c, "cpu"] = f["cpu_us_per_op"] + 0
    extra[key] = ""
    if ("socket_errors" in f) extra[key] = "socket_errors=" f["socket_errors"]
    if ("non2xx" in f) extra[key] = extra[key] " non2xx=" f["non2xx"]
  }
  END {
    printf "%-8s %-10s %12s %10s %10s %12s %4s  %s\n", "peer", "bench", "rps", "p50_us", "p99_us", "cpu_us/op", "runs", "notes(last run)"
    for (k = 1; k <= nkeys; k++) {
      key = order[k]; split(key, p, SUBSEP)
      m_rps[key] = median(key, "rps"); m_p99[key] = median(key, "p99"); m_cpu[key] = median(key, "cpu")
      printf "%-8s %-10s %12.0f %10.0f %10.0f %12.2f %4d  %s\n", p[1], p[2], m_rps[key], median(key, "p50"), m_p99[key], m_cpu[key], count[key], extra[key]
      bench[p[2]] = 1
      if (p[1] ~ /^weft/) wefts[p[1]] = 1
    }
    first = 1
    for (b in bench) {
      base = (b ~ /^echo/) ? "c_epoll" : "nginx"
      o = base SUBSEP b
      for (name in wefts) {
        w = name SUBSEP b
        if (!(w in count) || !(o in count) || m_rps[o] == 0) continue
        if (first) { print ""; first = 0 }
        printf "%s/%s %-10s rps %.2fx", name, base, b, m_rps[w] / m_rps[o]
        if (m_p99[o] > 0) printf "  p99 %.2fx", m_p99[w] / m_p99[o]
        if (m_cpu[o] > 0) printf "  cpu/op %.2fx", m_cpu[w] / m_cpu[o]
        printf "\n"
      }
    }
  }' "$results"

if ((failed)); then
  say "some runs FAILED (see above and $log)"
  exit 1
fi
