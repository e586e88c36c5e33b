#!/usr/bin/env bash
# HTTPS hello, weft's examples/https_hello against nginx, in the same run,
# on loopback, with the same certificate (ECDSA P-256, made here) and two
# workers each (weft --workers 2, nginx worker_processes 2):
#   keep-alive   wrk -t1 -c100 over TLS, connections kept: bulk record I/O
#   handshake    the same with "Connection: close": a new TCP connection
#                and full TLS handshake per request
# Servers take turns inside each repetition (nginx, weft, nginx, weft ...),
# so the drifts of this shared machine spread over both; medians across
# repetitions are printed, with weft/nginx ratios, and the server's CPU per
# request (utime+stime of the server and its children from /proc).
#
# usage: tools/run_tls_peers.sh --weft-https PATH [--seconds S] [--reps N] [--conns C] [OUT_DIR]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
weft="" seconds=5 reps=3 conns=100 out=""
while (($#)); do
  case "$1" in
    --weft-https) weft="$2"; shift ;;
    --seconds) seconds="$2"; shift ;;
    --reps) reps="$2"; shift ;;
    --conns) conns="$2"; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "run_tls_peers: unknown flag $1" >&2; exit 2 ;;
    *) out="$1" ;;
  esac
  shift
done
[[ -x "$weft" ]] || { echo "run_tls_peers: --weft-https PATH (examples/https_hello) needed" >&2; exit 2; }
command -v wrk >/dev/null || { echo "run_tls_peers: wrk not found" >&2; exit 2; }
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
[[ -x "$nginx_bin" ]] || { echo "run_tls_peers: nginx not found" >&2; exit 2; }
out="${out:-$repo/build/tls-peers}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d "$out/run.XXXXXX")"
say() { echo "run_tls_peers: $*" >&2; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
ulimit -n 65536 2>/dev/null || true

server_pid=""
stop_server() {
  [[ -n "$server_pid" ]] || return 0
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
trap stop_server EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# CPU ticks (utime + stime) of PID and its descendants (nginx's workers).
tree_ticks() {
  local pid="$1" total=0 stat rest child
  if stat="$(cat "/proc/$pid/stat" 2>/dev/null)"; then
    rest="${stat##*) }"
    read -r -a f <<<"$rest"
    total=$((f[11] + f[12]))
  fi
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
    total=$((total + $(tree_ticks "$child")))
  done
  echo "$total"
}
hz="$(getconf CLK_TCK)"

start() {  # start PEER PORT: the server, waiting until it answers over TLS
  local peer="$1" port="$2"
  if [[ "$peer" == nginx ]]; then
    local prefix="$work/nginx-$port"
    mkdir -p "$prefix"
    local user_line="/^user @USER@/d"
    ((EUID == 0)) && user_line="s|@USER@|$(id -un)|; s|@GROUP@|$(id -gn)|"
    sed -e "s|@PREFIX@|$prefix|g; s|@PORT@|$port|g; s|@CERT@|$work/cert.pem|g;" \
      -e "s|@KEY@|$work/key.pem|g; $user_line" \
      "$repo/bench/peers/nginx/nginx_https.conf.in" >"$prefix/nginx.conf"
    "$nginx_bin" -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf" >"$work/$peer.log" 2>&1 &
  else
    "$weft" --port "$port" --workers 2 --cert "$work/cert.pem" --key "$work/key.pem" \
      >"$work/$peer.log" 2>&1 &
  fi
  server_pid=$!
  for _ in $(seq 100); do
    curl -sk "https://127.0.0.1:$port/" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  say "$peer did not start (see $work/$peer.log)"; return 1
}

results="$out/results.txt"
: >"$results"
run() {  # run PEER MODE
  local peer="$1" mode="$2" port before after res
  port="$(free_port)"
  start "$peer" "$port"
  local hdr=()
  [[ "$mode" == handshake ]] && hdr=(-H "Connection: close")
  before="$(tree_ticks "$server_pid")"
  res="$(wrk -t1 -c"$conns" -d"${seconds}s" "${hdr[@]}" "https://127.0.0.1:$port/" 2>&1)"
  after="$(tree_ticks "$server_pid")"
  stop_server
  echo "$res" >"$work/wrk-$peer-$mode-$RANDOM.txt"
  local rps errs
  rps="$(awk '/^Requests\/sec:/ { print $2 }' <<<"$res")"
  errs="$(awk '/Socket errors:/ { sub(/^ *Socket errors: */, ""); gsub(/ /, ""); print }' <<<"$res")"
  local cpu
  cpu="$(awk -v t=$((after - before)) -v hz="$hz" -v r="$rps" -v s="$seconds" \
    'BEGIN { n = r * s; if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "nan" }')"
  echo "peer=$peer mode=$mode rps=${rps:-nan} cpu_us_per_req=$cpu${errs:+ socket_errors=$errs}" |
    tee -a "$results" >&2
}

for ((rep = 1; rep <= reps; rep++)); do
  say "repetition $rep/$reps"
  for mode in keepalive handshake; do
    run nginx "$mode"
    run weft "$mode"
  done
done

# Medians, and weft/nginx.
awk '
  { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    k = v["peer"] " " v["mode"]; n[k]++; rps[k, n[k]] = v["rps"]; cpu[k, n[k]] = v["cpu_us_per_req"] }
  function median(a, k, c,   i, j, t, x) {
    for (i = 1; i <= c; i++) x[i] = a[k, i]
    for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (x[j] + 0 < x[i] + 0) { t = x[i]; x[i] = x[j]; x[j] = t }
    return (c % 2) ? x[(c + 1) / 2] : (x[c / 2] + x[c / 2 + 1]) / 2
  }
  END {
    split("keepalive handshake", modes, " ")
    for (m = 1; m <= 2; m++) {
      w = "weft " modes[m]; g = "nginx " modes[m]
      if (!(w in n) || !(g in n)) continue
      wr = median(rps, w, n[w]); gr = median(rps, g, n[g])
      wc = median(cpu, w, n[w]); gc = median(cpu, g, n[g])
      printf "%-9s median of %d: nginx %.0f req/s (%.1f us CPU/req), weft %.0f req/s (%.1f us CPU/req), weft/nginx rps %.2f, CPU/req %.2f\n",
        modes[m], n[w], gr, gc, wr, wc, (gr > 0 ? wr / gr : 0), (gc > 0 ? wc / gc : 0)
    }
  }' "$results" | tee "$out/summary.txt"
