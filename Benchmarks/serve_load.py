#!/usr/bin/env python3
"""Load run against a running `knowlm serve`: C clients in a loop for S seconds.

Each client sends streaming and non-streaming /v1/completions requests back to back; the run
counts responses by status (only 200 and 429 are expected), tokens, request latency p50/p99,
and samples the server's resident memory (--pid) every second to show whether it stays flat.

    python3 Benchmarks/serve_load.py --port 8090 --clients 64 --seconds 60 --pid PID
"""
import argparse
import collections
import http.client
import json
import statistics
import threading
import time


def rss_mib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None


def client(port, deadline, tokens, stats, lock, index):
    n = 0
    while time.time() < deadline:
        stream = n % 2 == 0
        body = json.dumps({"prompt": f"Client {index} request {n}: tell me about rivers.", "max_tokens": tokens,
                           "temperature": 0.7, "seed": n, "stream": stream})
        start = time.perf_counter()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            c.request("POST", "/v1/completions", body=body, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            status = r.status
            generated = 0
            if status == 200:
                if stream:
                    generated = sum(1 for line in data.split(b"\n\n") if line.startswith(b"data: {") and b'"text":"' in line)
                else:
                    generated = json.loads(data)["usage"]["completion_tokens"]
            elif status == 429:
                time.sleep(float(r.getheader("Retry-After", "1")))
            c.close()
        except Exception as e:  # connection errors count as errors
            status = f"error {type(e).__name__}"
            generated = 0
        elapsed = time.perf_counter() - start
        with lock:
            stats["status"][status] += 1
            stats["tokens"] += generated
            if status == 200:
                stats["latency"].append(elapsed)
        n += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8090)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--pid", type=int)
    args = ap.parse_args()
    stats = {"status": collections.Counter(), "tokens": 0, "latency": []}
    lock = threading.Lock()
    deadline = time.time() + args.seconds
    threads = [threading.Thread(target=client, args=(args.port, deadline, args.tokens, stats, lock, i)) for i in range(args.clients)]
    memory = []
    start = time.time()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        if args.pid:
            memory.append(rss_mib(args.pid))
        time.sleep(1)
    wall = time.time() - start
    latency = sorted(stats["latency"])
    print(f"clients {args.clients}, {wall:.0f} s: responses {dict(stats['status'])}")
    if latency:
        p99 = latency[min(len(latency) - 1, int(0.99 * (len(latency) - 1)))]
        print(f"latency of 200s: p50 {statistics.median(latency):.2f} s, p99 {p99:.2f} s; "
              f"{stats['tokens']} tokens, {stats['tokens'] / wall:.1f} tokens/s aggregate")
    if memory:
        m = [x for x in memory if x is not None]
        third = max(1, len(m) // 3)
        print(f"server RSS MiB: first third mean {statistics.mean(m[:third]):.0f}, last third mean {statistics.mean(m[-third:]):.0f}, max {max(m):.0f}")


if __name__ == "__main__":
    main()
