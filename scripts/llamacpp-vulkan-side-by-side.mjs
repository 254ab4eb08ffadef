#!/usr/bin/env node
// vkrt and llama.cpp's Vulkan backend side by side, on the same Vulkan device and the same
// GGUF files, in one run: prompt processing (ppN) and decode (tgN) tokens/s, one table.
//
//   node scripts/llamacpp-vulkan-side-by-side.mjs [--bench build/bin/vkrt-bench] [-p 64] [-n 32] [-r 3]
//        [--device llvmpipe] [--synthetic 1B|none] [--synthetic-dir DIR] [--cache DIR] [--no-default-models]
//        [MODEL.gguf ...]
//
// llama.cpp is the prebuilt Vulkan library that the npm package node-llama-cpp@3.21.1 ships
// (its build of llama.cpp, not the oracles' CPU build): installed with npm into a cache
// directory outside the repository (--cache, default $XDG_CACHE_HOME/vkrt or ~/.cache/vkrt),
// never a dependency of vkrt. The models default to ../shared/models/stories260K.gguf and
// the arch/ padded256 Q4_0 and Q4_K_M files, plus a synthetic 1B Q4_0 file that vkrt-bench
// writes (--synthetic none: without it; --no-default-models: only the files named and the
// synthetic one).
//
// The two are measured the way vkrt-bench (and llama-bench) measure: ppN = N random tokens
// in one batch from an empty context; tgN = N single-token decode steps from an empty
// context; a warm-up run first (pipeline compilation), then -r runs, mean +- sd. The device
// is chosen by name (--device, default llvmpipe: Mesa's lavapipe) for both: VKRT_DEVICE and
// GGML_VK_VISIBLE_DEVICES get its index (llama.cpp would otherwise skip a CPU device).
// lavapipe figures are ratios only; the machine's load moves both.
import {execFileSync, spawnSync} from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {fileURLToPath, pathToFileURL} from "node:url";

const kPackage = "node-llama-cpp";
const kVersion = "3.21.1";
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

// ---------------------------------------------------------------- options

function parseArgs(argv) {
    const o = {
        bench: path.join(repo, "build/bin/vkrt-bench"),
        p: 64,
        n: 32,
        r: 3,
        device: "llvmpipe",
        synthetic: "1B",
        synthDir: os.tmpdir(),
        cache: path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "vkrt"),
        models: [],
        defaultModels: true,
    };
    for (let i = 0; i < argv.length; ++i) {
        const a = argv[i], v = () => {
            if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
            return argv[++i];
        };
        if (a === "--bench") o.bench = path.resolve(v());
        else if (a === "-p") o.p = Number(v());
        else if (a === "-n") o.n = Number(v());
        else if (a === "-r") o.r = Number(v());
        else if (a === "--device") o.device = v();
        else if (a === "--synthetic") o.synthetic = v();
        else if (a === "--synthetic-dir") o.synthDir = path.resolve(v());
        else if (a === "--cache") o.cache = path.resolve(v());
        else if (a === "--no-default-models") o.defaultModels = false;
        else if (a === "-h" || a === "--help") {
            console.log(fs.readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").slice(1, 22).join("\n"));
            process.exit(0);
        } else if (a.startsWith("-")) throw new Error(`unknown option ${a}`);
        else o.models.push(path.resolve(a));
    }
    for (const k of ["p", "n", "r"])
        if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`-${k} must be a positive integer`);
    if (o.models.length === 0 && o.defaultModels) {
        const m = path.join(repo, "../shared/models");
        o.models = [path.join(m, "stories260K.gguf"), path.join(m, "arch/padded256-q4_0.gguf"),
                    path.join(m, "arch/padded256-q4_k_m.gguf")];
    }
    return o;
}

// ---------------------------------------------------------------- vkrt

// The index of the first Vulkan device whose name contains `name` (vkrt-bench --devices:
// "device N: NAME"); both runtimes enumerate through the same loader.
function deviceIndex(bench, name) {
    const out = execFileSync(bench, ["--devices"], {encoding: "utf8", env: {...process.env, VKRT_DEVICE: ""}});
    const names = [...out.matchAll(/^device (\d+): (.*)$/gm)].map((m) => ({index: m[1], name: m[2]}));
    const d = names.find((x) => x.name.toLowerCase().includes(name.toLowerCase()));
    if (!d) throw new Error(`no Vulkan device named like '${name}' (have: ${names.map((x) => x.name).join(", ")})`);
    return d;
}

// vkrt-bench's table rows "| model | size | device | ppN | mean ± sd |" as {test: {mean, sd}}.
function vkrtBench(o, args, env) {
    const all = [o.bench, ...args, "-p", String(o.p), "-n", String(o.n), "-r", String(o.r)];
    console.error(`$ ${all.join(" ")}`);
    const r = spawnSync(o.bench, all.slice(1), {encoding: "utf8", env, maxBuffer: 1 << 26});
    if (r.status !== 0) return {error: (r.stderr || r.stdout || `exit ${r.status}`).trim().split("\n").pop()};
    const res = {};
    for (const m of r.stdout.matchAll(/^\|[^|]*\|[^|]*\|[^|]*\| ((?:pp|tg)\d+) \| ([0-9.]+) ± ([0-9.]+) \|$/gm))
        res[m[1]] = {mean: Number(m[2]), sd: Number(m[3])};
    return res;
}

// ---------------------------------------------------------------- llama.cpp (node-llama-cpp)

// node-llama-cpp@3.21.1 in <cache>/node-llama-cpp-3.21.1 (npm install once; no install
// scripts: only the prebuilt binaries are used, nothing is built or downloaded later).
function installNodeLlamaCpp(cache) {
    const dir = path.join(cache, `${kPackage}-${kVersion}`);
    const pkg = path.join(dir, "node_modules", kPackage, "package.json");
    const have = fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, "utf8")).version === kVersion;
    if (!have) {
        fs.mkdirSync(dir, {recursive: true});
        console.error(`installing ${kPackage}@${kVersion} into ${dir} ...`);
        execFileSync("npm", ["install", "--no-save", "--no-package-lock", "--ignore-scripts", "--no-audit", "--no-fund",
                             "--prefix", dir, `${kPackage}@${kVersion}`], {stdio: ["ignore", "inherit", "inherit"]});
    }
    return path.join(dir, "node_modules", kPackage, "dist", "index.js");
}

const mean = (a) => a.reduce((s, x) => s + x, 0) / a.length;
const sd = (a) => (a.length < 2 ? 0 : Math.sqrt(a.reduce((s, x) => s + (x - mean(a)) ** 2, 0) / (a.length - 1)));

// ppN and tgN of one model, as vkrt-bench measures them (random tokens; warm-up first).
async function llamaBench(llama, file, o) {
    const model = await llama.loadModel({modelPath: file, gpuLayers: "max"});
    try {
        const ctx = await model.createContext({contextSize: Math.max(o.p, o.n) + 1, batchSize: o.p, sequences: 1});
        try {
            const seq = ctx.getSequence();
            // Random ids below 512 (every model here has at least that many tokens; the cost
            // of a step does not depend on the ids), from a fixed-seed LCG.
            let seed = 42;
            const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) % 512;
            const ids = Array.from({length: o.p}, rand);
            const res = {};
            const pp = [];
            for (let r = 0; r <= o.r; ++r) {
                await seq.clearHistory();
                const t = performance.now();
                await seq.evaluateWithoutGeneratingNewTokens(ids);
                if (r > 0) pp.push(o.p / ((performance.now() - t) / 1000));  // the first run warms up
            }
            res[`pp${o.p}`] = {mean: mean(pp), sd: sd(pp)};
            const tg = [];
            for (let r = 0; r <= o.r; ++r) {
                await seq.clearHistory();
                const tok = rand();
                const t = performance.now();
                for (let i = 0; i < o.n; ++i) await seq.evaluateWithoutGeneratingNewTokens([tok]);
                if (r > 0) tg.push(o.n / ((performance.now() - t) / 1000));
            }
            res[`tg${o.n}`] = {mean: mean(tg), sd: sd(tg)};
            return res;
        } finally {
            await ctx.dispose();
        }
    } finally {
        await model.dispose();
    }
}

// ---------------------------------------------------------------- main

const fmt = (x) => (x && x.mean !== undefined ? `${x.mean.toFixed(2)} ± ${x.sd.toFixed(2)}` : "n/a");

async function main() {
    const o = parseArgs(process.argv.slice(2));
    if (!fs.existsSync(o.bench)) throw new Error(`no vkrt-bench at ${o.bench} (build first, or --bench PATH)`);
    const dev = deviceIndex(o.bench, o.device);
    const env = {...process.env, VKRT_DEVICE: dev.index};
    process.env.GGML_VK_VISIBLE_DEVICES = dev.index;  // read by ggml-vulkan when it starts

    // vkrt first (it also writes the synthetic file llama.cpp then reads).
    const rows = [];
    for (const m of o.models) {
        if (!fs.existsSync(m)) throw new Error(`no model ${m}`);
        rows.push({label: path.basename(m), file: m, vkrt: vkrtBench(o, ["-m", m], env)});
    }
    if (o.synthetic !== "none") {
        const args = ["--synthetic", o.synthetic, "--type", "q4_0", "--synthetic-dir", o.synthDir];
        const file = path.join(o.synthDir, `vkrt-synthetic-v2-${o.synthetic}-q4_0.gguf`);
        rows.push({label: `synthetic ${o.synthetic} Q4_0 (vkrt-bench writes it)`, file, vkrt: vkrtBench(o, args, env)});
    }

    // llama.cpp: one process, so its pipelines compile once for all models.
    let llamaError = null, version = "";
    try {
        const nlc = await import(pathToFileURL(installNodeLlamaCpp(o.cache)).href);
        const llama = await nlc.getLlama({gpu: "vulkan", build: "never", skipDownload: true, usePrebuiltBinaries: true,
                                          logLevel: nlc.LlamaLogLevel.error, vramPadding: 0});
        if (llama.gpu !== "vulkan") throw new Error(`node-llama-cpp loaded its '${llama.gpu}' backend, not vulkan`);
        const names = await llama.getGpuDeviceNames();
        version = `llama.cpp ${llama.llamaCppRelease.release} (node-llama-cpp ${kVersion} prebuilt Vulkan), device ${names.join(", ")}`;
        for (const row of rows) {
            console.error(`llama.cpp Vulkan: ${row.file}`);
            try {
                row.llama = await llamaBench(llama, row.file, o);
            } catch (e) {
                row.llama = {error: String(e.message || e).split("\n")[0]};
            }
        }
        await llama.dispose();
    } catch (e) {
        llamaError = String(e.stack || e);
    }

    console.log(`device: ${dev.name} (index ${dev.index}); ${version || "llama.cpp: not run"}`);
    console.log(`date: ${new Date().toISOString()}; command: node scripts/llamacpp-vulkan-side-by-side.mjs ${process.argv.slice(2).join(" ")}`);
    console.log("");
    console.log("| model | test | vkrt t/s | llama.cpp Vulkan t/s | vkrt / llama.cpp |");
    console.log("| --- | --- | ---: | ---: | ---: |");
    for (const row of rows) {
        for (const test of [`pp${o.p}`, `tg${o.n}`]) {
            const a = row.vkrt[test], b = row.llama && row.llama[test];
            const ratio = a && b && b.mean > 0 ? (a.mean / b.mean).toFixed(2) : "n/a";
            console.log(`| ${row.label} | ${test} | ${a ? fmt(a) : `error: ${row.vkrt.error}`} | ` +
                        `${b ? fmt(b) : `error: ${(row.llama && row.llama.error) || "not run"}`} | ${ratio} |`);
        }
    }
    if (llamaError) {
        console.log(`\nllama.cpp's Vulkan backend (node-llama-cpp ${kVersion}) could not run here:\n${llamaError}`);
        process.exitCode = 1;
    }
}

main().catch((e) => {
    console.error(`llamacpp-vulkan-side-by-side: ${e.message || e}`);
    process.exit(1);
});
