// llama.cpp's side of the engine benchmark, through node-llama-cpp@3.21.1 (prebuilt llama.cpp, CPU only, the
// Zen 4 / AVX2 / ... variant chosen at run time). The C# bench (Program.cs, LlamaCppBaseline.cs) copies this file
// next to node_modules/node-llama-cpp in its scratch folder and runs it once per file and round, alternating with
// ours. It measures what ours measures, the llama-bench way (random tokens, nothing sampled):
//   pp   prompt evaluation of --pp tokens from an empty cache, one call (llama.cpp batches it by 512);
//   tg   --tg single-token decode steps from an empty cache;
//   tgd  --tg single-token decode steps after --depth tokens are cached (the last step attends over depth + tg);
// and prints one JSON line: tokens/s of each, peak RSS, the llama.cpp build and CPU variant.
//   node llamacpp-bench.mjs --model F.gguf [--threads 2] [--pp 512] [--tg 128] [--depth 896] [--ctx 1024] [--seed 42]
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { readFileSync } from "node:fs";

const argv = process.argv.slice(2);
const arg = (name, fallback) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : fallback;
};
const modelPath = arg("--model");
const threads = Number(arg("--threads", "2"));
const pp = Number(arg("--pp", "512"));
const tg = Number(arg("--tg", "128"));
const depth = Number(arg("--depth", "0"));
const ctx = Number(arg("--ctx", "1024"));
let seed = Number(arg("--seed", "42"));
if (!modelPath) throw new Error("--model is required");

// maxThreads 0: the context's thread count is used as given, never lowered by node-llama-cpp's own scheduling.
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: 0 });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const context = await model.createContext({ contextSize: ctx, batchSize: Math.min(512, ctx), threads, sequences: 1 });
const seq = context.getSequence();
const vocab = model.tokens.count ?? 32000;

// Random token ids in [3, vocab) from a seeded LCG, as llama-bench feeds random tokens (the text does not matter).
const next = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return 3 + (seed % (vocab - 3));
};
const tokens = (n) => Array.from({ length: n }, next);
const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

async function decode(steps) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < steps; i++) await seq.evaluateWithoutGeneratingNewTokens([next()]);
    return steps / seconds(t0);
}

// Warm-up (page-in of the mapping, first-call costs), then an empty cache.
await seq.evaluateWithoutGeneratingNewTokens(tokens(16));
for (let i = 0; i < 4; i++) await seq.evaluateWithoutGeneratingNewTokens([next()]);
await seq.clearHistory();

let t0 = process.hrtime.bigint();
await seq.evaluateWithoutGeneratingNewTokens(tokens(pp));
const ppRate = pp / seconds(t0);
await seq.clearHistory();

const tgRate = await decode(tg);
await seq.clearHistory();

let tgDepthRate = null;
if (depth > 0) {
    await seq.evaluateWithoutGeneratingNewTokens(tokens(depth));
    tgDepthRate = await decode(tg);
    await seq.clearHistory();
}

const status = readFileSync("/proc/self/status", "utf8");
const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
const result = {
    engine: "llama.cpp",
    package: "node-llama-cpp@3.21.1",
    llamaCpp: llama.llamaCppRelease?.release ?? null,
    // The features of the ggml-cpu variant loaded (AVX512 etc. on Zen 4: libggml-cpu-zen4.so).
    cpu: (llama.systemInfo ?? "").replace(/\s*\|\s*$/, "").replace(/ = 1/g, "").replace(/\s*\|\s*/g, " "),
    threads: context.currentThreads ?? threads,
    flashAttention: context.flashAttention ?? null,
    pp: ppRate,
    tg: tgRate,
    tgDepth: tgDepthRate,
    peakRssBytes: hwm ? Number(hwm[1]) * 1024 : null,
};
console.log(JSON.stringify(result));
await context.dispose();
await model.dispose();
await llama.dispose();
