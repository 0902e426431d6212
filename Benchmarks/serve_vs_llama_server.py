#!/usr/bin/env python3
"""Serving throughput: `knowlm serve` against llama.cpp's `llama-server`, same GGUF, same client.

Both servers are started here, one after the other, with the same thread count and
`--parallel N`; the same client (threads over http.client, streaming /v1/completions) runs
C concurrent streams for each C given, every stream asking for the same number of tokens at
temperature 0 from its own prompt. Reported per server and concurrency: aggregate generated
tokens/s over the wall time, and p50/p99 time to first token.

    python3 Benchmarks/serve_vs_llama_server.py --llama-server PATH/llama-server \
        [--model GGUF] [--concurrency 1 4 8] [--tokens 64] [--rounds 2]

llama-server comes from the llama.cpp sources inside the llama-cpp-python sdist (PyPI), built
with cmake from PyPI (on Intel machines whose VMs fault on AMX tiles: GGML_NATIVE=OFF and the
AVX-512 flags). Nothing of it is part of this project.
"""
import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time

PROMPTS = [
    "Write a short story about a lighthouse keeper who finds a message in a bottle.",
    "Explain how a refrigerator keeps food cold, step by step.",
    "List some advice for someone learning to play the violin as an adult.",
    "Describe the water cycle to a ten-year-old.",
    "What are the main differences between a comet and an asteroid?",
    "Give a recipe for a simple vegetable soup.",
    "Summarize the plot of a detective novel you might write.",
    "Why do leaves change colour in autumn?",
    "Describe a walk through a busy market in the morning.",
    "How does a bicycle stay upright when it moves?",
    "Write a letter from a traveller to a friend back home.",
    "Explain what a database index is and why it helps.",
    "Describe the sounds of a forest at night.",
    "What makes a good team meeting?",
    "Tell the history of a small mountain village.",
    "How do bees find their way back to the hive?",
]


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_ready(port, path, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            if r.status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server on port {port} did not become ready")


def stream_one(port, prompt, tokens, results, index):
    body = json.dumps({"prompt": prompt, "max_tokens": tokens, "temperature": 0, "stream": True,
                       "stream_options": {"include_usage": True}})
    start = time.perf_counter()
    first = None
    pieces = 0
    usage = None
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", "/v1/completions", body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {r.read()[:200]!r}")
    buffer = b""
    while True:
        chunk = r.read1(65536) if hasattr(r, "read1") else r.read(1)
        if not chunk:
            break
        buffer += chunk
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            if not event.startswith(b"data: "):
                continue
            data = event[6:]
            if data == b"[DONE]":
                continue
            message = json.loads(data)
            if message.get("usage"):
                usage = message["usage"]
            for choice in message.get("choices", []):
                if choice.get("text"):
                    if first is None:
                        first = time.perf_counter() - start
                    pieces += 1
    end = time.perf_counter() - start
    generated = (usage or {}).get("completion_tokens") or pieces
    results[index] = {"ttft": first if first is not None else end, "tokens": generated, "seconds": end}


def run_level(port, concurrency, tokens, offset):
    results = [None] * concurrency
    threads = [threading.Thread(target=stream_one, args=(port, PROMPTS[(offset + i) % len(PROMPTS)], tokens, results, i))
               for i in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if any(r is None for r in results):
        raise RuntimeError("a stream failed")
    total = sum(r["tokens"] for r in results)
    ttfts = sorted(r["ttft"] for r in results)
    p99 = ttfts[min(len(ttfts) - 1, int(round(0.99 * (len(ttfts) - 1))))]
    return {"tokens_per_second": total / wall, "ttft_p50": statistics.median(ttfts), "ttft_p99": p99,
            "tokens": total, "wall": wall}


def measure(name, command, port, ready_path, levels, tokens, rounds):
    print(f"starting {name}: {' '.join(command)}", file=sys.stderr)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, ready_path)
        run_level(port, 1, 4, 0)  # warm-up
        out = {}
        for level in levels:
            best = None
            for r in range(rounds):
                m = run_level(port, level, tokens, r * level)
                if best is None or m["tokens_per_second"] > best["tokens_per_second"]:
                    best = m
            out[level] = best
            print(f"  {name} x{level}: {best['tokens_per_second']:.1f} tok/s, TTFT p50 {best['ttft_p50']:.2f} s p99 {best['ttft_p99']:.2f} s",
                  file=sys.stderr)
        return out
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama-server", required=True)
    ap.add_argument("--knowlm", default=os.path.join(root, ".build/release/knowlm"))
    ap.add_argument("--model", default=os.path.expanduser("~/.cache/knowlm/models/gemma-3-270m-q4_k_m.gguf"))
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--context", type=int, default=1024, help="context per sequence")
    ap.add_argument("--skip-llama", action="store_true")
    args = ap.parse_args()
    parallel = max(args.concurrency)
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; model {os.path.basename(args.model)}; "
          f"{args.tokens} tokens per stream, parallel {parallel}, threads {args.threads}", file=sys.stderr)
    results = {}
    port = free_port()
    results["knowlm"] = measure("knowlm", [args.knowlm, "serve", "-m", args.model, "--port", str(port), "--no-kb",
                                           "--embedder", "none", "--parallel", str(parallel), "-t", str(args.threads),
                                           "-c", str(args.context), "--max-queued", "64"],
                                port, "/health", args.concurrency, args.tokens, args.rounds)
    if not args.skip_llama:
        port = free_port()
        results["llama-server"] = measure("llama-server", [args.llama_server, "-m", args.model, "--port", str(port),
                                                           "--parallel", str(parallel), "-t", str(args.threads),
                                                           "-c", str(args.context * parallel), "--no-webui"],
                                          port, "/health", args.concurrency, args.tokens, args.rounds)
    print("| server | streams | aggregate tokens/s | TTFT p50 (s) | TTFT p99 (s) |")
    print("|---|---|---|---|---|")
    for name, levels in results.items():
        for level, m in levels.items():
            print(f"| {name} | {level} | {m['tokens_per_second']:.1f} | {m['ttft_p50']:.2f} | {m['ttft_p99']:.2f} |")
    if "llama-server" in results:
        for level in args.concurrency:
            ratio = results["knowlm"][level]["tokens_per_second"] / results["llama-server"][level]["tokens_per_second"]
            print(f"ratio x{level}: {ratio:.2f}")
    one = results["knowlm"].get(1)
    if one and parallel in results["knowlm"]:
        print(f"knowlm x{parallel} / x1 aggregate: {results['knowlm'][parallel]['tokens_per_second'] / one['tokens_per_second']:.2f}")


if __name__ == "__main__":
    main()
