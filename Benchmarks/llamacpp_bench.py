"""llama.cpp side of the runtime benchmark (run by runtime_vs_llamacpp.py in its own process,
so that its peak memory is its own). Mirrors `knowlm bench`: load, prompt processing of N
tokens in one batch, then M tokens decoded one at a time.

Prints one JSON object. Needs llama-cpp-python (a reference only; never used by the product).
"""
import argparse, json, random, resource, time

import llama_cpp

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("-p", type=int, default=512)
ap.add_argument("-n", type=int, default=128)
ap.add_argument("-r", type=int, default=3)
ap.add_argument("-t", type=int, default=2)
ap.add_argument("-c", type=int, default=4096)
args = ap.parse_args()

baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
llm = llama_cpp.Llama(model_path=args.model, n_ctx=args.c, n_batch=512, n_ubatch=512,
                      n_threads=args.t, n_threads_batch=args.t, verbose=False)
load = time.perf_counter() - start
vocab = llm.n_vocab()
rng = random.Random(0)
pp, tg = [], []
for rep in range(args.r):
    tokens = [llm.token_bos()] + [rng.randrange(1000, vocab - 1000) for _ in range(args.p - 1)]
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(tokens)
    pp.append(args.p / (time.perf_counter() - t0))
    llm.reset()
    llm.eval([llm.token_bos(), 2000 + rep])
    t0 = time.perf_counter()
    for i in range(args.n):
        llm.eval([3000 + i])  # fixed tokens: measures decode cost, not sampling
    tg.append(args.n / (time.perf_counter() - t0))
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({
    "engine": "llama.cpp", "version": llama_cpp.__version__, "threads": args.t,
    "load_seconds": load, "pp_tokens": args.p, "pp_tokens_per_second": sum(pp) / len(pp),
    "tg_tokens": args.n, "tg_tokens_per_second": sum(tg) / len(tg),
    "peak_rss_mib": peak_kib / 1024, "interpreter_rss_mib": baseline_kib / 1024,
}))
