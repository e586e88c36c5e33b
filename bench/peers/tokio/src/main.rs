// Tokio peer benchmarks, the same shapes as bench/peers/go, printing the same
// result lines (`peer=tokio bench=... value=... unit=... extra=...`).
//
//   weft-peer-tokio WORKLOAD [-n N] [-workers W] [-sleep_ms MS] ...
//
// WORKLOAD: skynet, spawnjoin, sleepers, yield, pingpong, chanthroughput.
// -workers 0 (the default) means Tokio's default, one worker per core.
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Go-style flags: "-name value" or "-name=value" (one or two dashes).
fn flag(args: &[String], name: &str, default: i64) -> i64 {
    for (i, a) in args.iter().enumerate() {
        let a = a.trim_start_matches('-');
        if let Some(v) = a.strip_prefix(name) {
            if let Some(v) = v.strip_prefix('=') {
                return v.parse().expect("bad flag value");
            }
            if v.is_empty() && i + 1 < args.len() {
                return args[i + 1].parse().expect("bad flag value");
            }
        }
    }
    default
}

fn runtime(workers: i64) -> tokio::runtime::Runtime {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if workers > 0 {
        b.worker_threads(workers as usize);
    }
    b.enable_time().build().expect("tokio runtime")
}

fn rss_bytes() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: i64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn report(bench: &str, value: f64, unit: &str, extra: String) {
    println!("peer=tokio bench={bench} value={value:.2} unit={unit} extra={extra}");
}

// Each node spawns `div` children and sums what their join handles return,
// as weft's skynet joins its fibers.
fn skynet(num: i64, size: i64, div: i64) -> Pin<Box<dyn Future<Output = i64> + Send>> {
    Box::pin(async move {
        if size == 1 {
            return num;
        }
        let child = size / div;
        let mut kids = Vec::with_capacity(div as usize);
        for i in 0..div {
            kids.push(tokio::spawn(skynet(num + i * child, child, div)));
        }
        let mut sum = 0;
        for k in kids {
            sum += k.await.unwrap();
        }
        sum
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(workload) = args.first().cloned() else {
        eprintln!("usage: weft-peer-tokio skynet|spawnjoin|sleepers|yield|pingpong|chanthroughput [flags]");
        std::process::exit(2);
    };
    let workers = flag(&args, "workers", 0);
    match workload.as_str() {
        "skynet" => {
            let n = flag(&args, "n", 1_000_000);
            let rt = runtime(workers);
            let start = Instant::now();
            let sum = rt.block_on(async { tokio::spawn(skynet(0, n, 10)).await.unwrap() });
            let ms = start.elapsed().as_secs_f64() * 1e3;
            if sum != n * (n - 1) / 2 {
                eprintln!("skynet: wrong sum {sum}");
                std::process::exit(1);
            }
            report("skynet", ms, "ms", format!("n:{n},sum:{sum}"));
        }
        "spawnjoin" => {
            let n = flag(&args, "n", 1_000_000);
            let batch = flag(&args, "batch", 1000);
            let rt = runtime(workers);
            let start = Instant::now();
            let spawned = rt.block_on(async {
                let mut spawned = 0;
                let mut handles = Vec::with_capacity(batch as usize);
                while spawned < n {
                    for _ in 0..batch {
                        handles.push(tokio::spawn(async {}));
                    }
                    for h in handles.drain(..) {
                        h.await.unwrap();
                    }
                    spawned += batch;
                }
                spawned
            });
            let ns = start.elapsed().as_nanos() as f64 / spawned as f64;
            report("spawnjoin", ns, "ns_per_op", format!("n:{spawned},batch:{batch}"));
        }
        "sleepers" => {
            // Every task sleeps once; spawn time is the loop alone, the memory
            // sample is taken once every task has started its sleep.
            let n = flag(&args, "n", 1_000_000);
            let sleep = Duration::from_millis(flag(&args, "sleep_ms", 10_000) as u64);
            let rt = runtime(workers);
            rt.block_on(async move {
                let started = Arc::new(AtomicI64::new(0));
                let before = rss_bytes();
                let start = Instant::now();
                let mut handles = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let started = started.clone();
                    handles.push(tokio::spawn(async move {
                        started.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(sleep).await;
                    }));
                }
                let spawn_ms = start.elapsed().as_secs_f64() * 1e3;
                while started.load(Ordering::Relaxed) < n {
                    tokio::task::yield_now().await;
                }
                let per_task = (rss_bytes() - before) as f64 / n as f64;
                for h in handles {
                    h.await.unwrap();
                }
                report("sleepers/spawn", spawn_ms, "ms", format!("n:{n}"));
                report("sleepers/rss", per_task, "bytes", format!("n:{n}"));
            });
        }
        "yield" => {
            // Go's shape: one worker, 1 then 2 tasks yielding n times in all.
            let n = flag(&args, "n", 10_000_000);
            let rt = runtime(1);
            for w in [1i64, 2] {
                let per = n / w;
                let start = Instant::now();
                rt.block_on(async {
                    let hs: Vec<_> = (0..w)
                        .map(|_| {
                            tokio::spawn(async move {
                                for _ in 0..per {
                                    tokio::task::yield_now().await;
                                }
                            })
                        })
                        .collect();
                    for h in hs {
                        h.await.unwrap();
                    }
                });
                let ns = start.elapsed().as_nanos() as f64 / (per * w) as f64;
                report(&format!("yield/{w}"), ns, "ns_per_op", format!("n:{n},procs:1"));
            }
        }
        "pingpong" => {
            // Tokio has no rendezvous channel: capacity 1 is the closest.
            let n = flag(&args, "n", 1_000_000);
            for procs in [1i64, 2] {
                let rt = runtime(procs);
                let ns = rt.block_on(async move {
                    let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<i64>(1);
                    let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<i64>(1);
                    let echo = tokio::spawn(async move {
                        while let Some(v) = ping_rx.recv().await {
                            pong_tx.send(v + 1).await.unwrap();
                        }
                    });
                    let start = Instant::now();
                    let mut token = 0;
                    for _ in 0..n {
                        ping_tx.send(token).await.unwrap();
                        token = pong_rx.recv().await.unwrap();
                    }
                    let ns = start.elapsed().as_nanos() as f64 / n as f64;
                    drop(ping_tx);
                    echo.await.unwrap();
                    assert_eq!(token, n, "pingpong: token lost");
                    ns
                });
                report(&format!("pingpong/procs{procs}"), ns, "ns_per_op", format!("n:{n}"));
            }
        }
        "chanthroughput" => {
            // Tokio's mpsc has one receiver: the consumers share it behind an
            // async mutex, the usual way to fan a Tokio channel out.
            let n = flag(&args, "n", 10_000_000);
            let producers = flag(&args, "producers", 4);
            let consumers = flag(&args, "consumers", 4);
            let cap = flag(&args, "cap", 1024);
            let rt = runtime(workers);
            let per = n / producers;
            let start = Instant::now();
            let total = rt.block_on(async move {
                let (tx, rx) = tokio::sync::mpsc::channel::<i64>(cap as usize);
                let rx = Arc::new(tokio::sync::Mutex::new(rx));
                let cons: Vec<_> = (0..consumers)
                    .map(|_| {
                        let rx = rx.clone();
                        tokio::spawn(async move {
                            let mut s = 0i64;
                            while let Some(v) = rx.lock().await.recv().await {
                                s += v;
                            }
                            s
                        })
                    })
                    .collect();
                let prods: Vec<_> = (0..producers)
                    .map(|_| {
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            for _ in 0..per {
                                tx.send(1).await.unwrap();
                            }
                        })
                    })
                    .collect();
                drop(tx);
                for p in prods {
                    p.await.unwrap();
                }
                let mut total = 0;
                for c in cons {
                    total += c.await.unwrap();
                }
                total
            });
            let secs = start.elapsed().as_secs_f64();
            assert_eq!(total, per * producers, "chanthroughput: items lost");
            report("chanthroughput", total as f64 / secs, "items_per_s",
                   format!("n:{total},producers:{producers},consumers:{consumers},cap:{cap}"));
        }
        other => {
            eprintln!("weft-peer-tokio: unknown workload {other}");
            std::process::exit(2);
        }
    }
}
