#!/usr/bin/env bun
// Builds the single-file executable: `bun run build` -> dist/warren.
//
//   bun scripts/build.ts [--target bun-linux-x64] [--outfile dist/warren] [--zstd-level 19] [--bytecode]
//
// Warren's own code (and Elysia, TypeBox, ...) is bundled as usual, and the web console's files
// with it (consolePlugin). node-llama-cpp cannot be: it finds its files relative to its modules,
// its addon dlopens CPU-variant .so files beside itself, and its binding probe re-runs one of its
// .js files by path. So the files it needs at run time are packed into one zstd archive embedded
// in the executable; the binary unpacks it into a cache directory on first run (src/compiled/cache.ts), and every `import ... from
// "node-llama-cpp"` is replaced here by a module that loads it from there (src/compiled/runtime.ts).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import type { BunPlugin } from "bun";
import { pack, PACK_ZSTD_LEVEL, type PackEntry } from "../src/compiled/pack.ts";
import { bundleConsole } from "../src/web/bundle.ts";

const ROOT = resolve(import.meta.dir, "..");
const NM = join(ROOT, "node_modules");

/**
 * node-llama-cpp's CPU prebuilt package for a Bun compile target. GPU variants (CUDA, Vulkan:
 * 80-360 MB each) are left out on purpose; on macOS the arm64 package is the Metal one (there is
 * no other). musl targets are refused: node-llama-cpp's Linux binaries link against glibc.
 */
function prebuiltPackageFor(target: string): string {
  const m = /^bun-(linux|darwin|windows)-(x64|arm64)(?:-(?:baseline|modern))?$/.exec(target);
  if (!m) throw new Error(`unsupported target ${target} (bun-{linux,darwin,windows}-{x64,arm64}[-baseline|-modern]; musl is not supported)`);
  const [, os, arch] = m;
  if (os === "linux") return `@node-llama-cpp/linux-${arch}`;
  if (os === "darwin") return arch === "arm64" ? "@node-llama-cpp/mac-arm64-metal" : "@node-llama-cpp/mac-x64";
  return `@node-llama-cpp/win-${arch}`;
}

/**
 * Packages reached from node-llama-cpp's entry that a server using `build: "never"` never loads:
 * @reflink/* is a per-platform native addon that ipull imports only while downloading.
 */
const NEVER_LOADED = [/^node_modules\/@reflink\//];
/**
 * Of node-llama-cpp itself: its modules, and the data it reads at run time (release info, JSON
 * grammars). Not the 34 MB llama.cpp source bundle, CMake files or project templates: building
 * from source is off (`build: "never"`).
 */
const NODE_LLAMA_CPP_RUNTIME = [/^dist\//, /^llama\/[^/]+\.json$/, /^llama\/grammars\//, /^package\.json$/];
/** Types, source maps, docs, tests and build files: never loaded. */
const NOT_RUNTIME =
  /(\.d\.[mc]?ts|\.map|\.md|\.markdown|\.tsbuildinfo|(^|\/)\.[^/]*|(^|\/)(Makefile|CHANGELOG[^/]*|[^/]+\.(ts|mts|cts|yml|yaml)))$|(^|\/)(test|tests|__tests__|example|examples|docs|\.github)\//;
/** Kept with every package: license notices must travel with copies. */
const LICENSE_FILE = /(^|\/)(licen[cs]e|copying|notice)(\.\w+)?$/i;

interface BuildOptions {
  target: string;
  outfile: string;
  zstdLevel: number;
  /** Precompiled bytecode: faster starts for ~5 MB more file (docs/benchmarks.md, "Single executable"). */
  bytecode?: boolean;
}

interface BuildResult {
  outfile: string;
  bytes: number;
  payloadBytes: number;
  payloadFiles: number;
  hash: string;
}

function hostTarget(): string {
  const os = process.platform === "win32" ? "windows" : process.platform;
  return `bun-${os}-${process.arch}`;
}

/** The files node-llama-cpp loads at run time, as paths relative to the repository root. */
async function runtimeFiles(prebuilt: string): Promise<string[]> {
  // Bundling its entry (output discarded) is the cheapest exact walk of its import graph, dynamic
  // imports of literal paths included. Whole packages are then taken, not just the files the walk
  // names: its list misses some (a package's `main` that only re-exports, files required by
  // computed paths), and what it would save is small once compressed.
  const probe = await Bun.build({
    entrypoints: [join(NM, "node-llama-cpp/dist/index.js")],
    target: "bun",
    external: ["@node-llama-cpp/*"],
    metafile: true,
    throw: true,
  });
  const packages = new Set<string>();
  for (const input of Object.keys(probe.metafile!.inputs)) {
    const rel = relative(ROOT, resolve(ROOT, input));
    // Greedy: the last node_modules/<name> or node_modules/@scope/<name> on the path.
    const pkg = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(rel)?.[1];
    if (pkg && !NEVER_LOADED.some((r) => r.test(rel))) packages.add(pkg);
  }
  packages.delete("node_modules/node-llama-cpp");
  const files: string[] = [];
  for (const pkg of packages) files.push(...packageFiles(pkg, (p) => !NOT_RUNTIME.test(p)));
  files.push(...packageFiles("node_modules/node-llama-cpp", (p) => NODE_LLAMA_CPP_RUNTIME.some((r) => r.test(p)) && !NOT_RUNTIME.test(p)));
  files.push(...packageFiles(join("node_modules", prebuilt), (p) => !p.endsWith(".md")));
  // Sorted so the CPU-variant .so files (nearly identical) sit side by side within zstd's window.
  return files.sort();
}

/** Files of one package (nested node_modules excluded: they are packages of their own), relative to ROOT. */
function packageFiles(pkg: string, keep: (pathInPackage: string) => boolean): string[] {
  const out: string[] = [];
  for (const f of walk(join(ROOT, pkg), (dir) => dir !== "node_modules")) {
    const inPkg = relative(join(ROOT, pkg), f);
    if (keep(inPkg) || LICENSE_FILE.test(inPkg)) out.push(relative(ROOT, f));
  }
  return out;
}

function* walk(dir: string, enter: (name: string) => boolean = () => true): Generator<string> {
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) {
      if (enter(ent.name)) yield* walk(p, enter);
    } else if (ent.isFile()) {
      yield p;
    }
  }
}

/** `import ... from "node-llama-cpp"` -> awaits the unpacked copy, re-exporting every member. */
function nodeLlamaCppPlugin(payloadFile: string, hash: string, exportNames: string[]): BunPlugin {
  const runtimeModule = join(ROOT, "src/compiled/runtime.ts");
  const contents = [
    `import payloadPath from ${JSON.stringify(payloadFile)} with { type: "file" };`,
    `import { loadNodeLlamaCpp } from ${JSON.stringify(runtimeModule)};`,
    `const m = await loadNodeLlamaCpp({ path: payloadPath, hash: ${JSON.stringify(hash)} });`,
    ...exportNames.map((n) => `export const ${n} = m[${JSON.stringify(n)}];`),
  ].join("\n");
  return {
    name: "warren-node-llama-cpp",
    setup(build) {
      build.onResolve({ filter: /^node-llama-cpp$/ }, () => ({ path: "node-llama-cpp", namespace: "warren-runtime" }));
      // A subpath would be bundled from node_modules and look for its files inside the executable.
      build.onResolve({ filter: /^node-llama-cpp\// }, (args) => {
        throw new Error(`${args.importer} imports ${args.path}: the compiled binary supports only "node-llama-cpp" itself`);
      });
      build.onLoad({ filter: /.*/, namespace: "warren-runtime" }, () => ({ contents, loader: "js" }));
    },
  };
}

/**
 * The web console, bundled here from src/web: src/web/bundle.ts is replaced by a module that
 * returns these files, since its Bun.build would find no sources inside the executable.
 */
function consolePlugin(files: Awaited<ReturnType<typeof bundleConsole>>): BunPlugin {
  const bundler = join(ROOT, "src/web/bundle.ts");
  const contents = `const files = ${JSON.stringify(files)};\nexport async function bundleConsole() { return files; }\n`;
  return {
    name: "warren-console",
    setup(build) {
      build.onLoad({ filter: /[\\/]src[\\/]web[\\/]bundle\.ts$/ }, (args) => {
        if (resolve(args.path) !== bundler) throw new Error(`unexpected console bundler at ${args.path}`);
        return { contents, loader: "js" };
      });
    },
  };
}

export async function buildWarren(opts: BuildOptions): Promise<BuildResult> {
  const prebuilt = prebuiltPackageFor(opts.target);
  if (!existsSync(join(NM, prebuilt, "package.json"))) {
    const version = JSON.parse(readFileSync(join(NM, "node-llama-cpp/package.json"), "utf8")).version;
    throw new Error(`${prebuilt} is not installed; for target ${opts.target} run: npm install --no-save --force ${prebuilt}@${version}`);
  }
  const files = await runtimeFiles(prebuilt);
  const entries: PackEntry[] = files.map((f) => ({ path: f, mode: statSync(join(ROOT, f)).mode, data: readFileSync(join(ROOT, f)) }));
  const payload = pack(entries, opts.zstdLevel);
  const hash = createHash("sha256").update(payload).digest("hex").slice(0, 16);
  const outfile = resolve(opts.outfile);
  // A directory of its own per build, so concurrent builds (a test and a developer) never clash.
  const buildDir = mkdtempSync(join(tmpdir(), "warren-build-"));
  try {
    const payloadFile = join(buildDir, `runtime-${hash}.wpk`);
    await Bun.write(payloadFile, payload);
    const exportNames = Object.keys(await import("node-llama-cpp")).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== "default");
    mkdirSync(dirname(outfile), { recursive: true });
    await Bun.build({
      // The C API engine's decode thread is a Worker: its module is an entry point of its own.
      entrypoints: [join(ROOT, "src/compiled/entry.ts"), join(ROOT, "src/inference/llama/capi/worker.ts")],
      target: "bun",
      minify: { whitespace: true, syntax: true },
      // Bytecode needs ESM output here: the node-llama-cpp module uses top-level await.
      ...(opts.bytecode ? { bytecode: true, format: "esm" as const } : {}),
      plugins: [nodeLlamaCppPlugin(payloadFile, hash, exportNames), consolePlugin(await bundleConsole())],
      throw: true,
      compile: {
        target: opts.target as Bun.Build.CompileTarget,
        outfile,
        // Resolving node-llama-cpp's dependencies in the unpacked tree reads their package.json.
        autoloadPackageJson: true,
        // A server binary should not change behaviour with the .env or bunfig.toml (preload
        // scripts!) of whatever directory it is started from.
        autoloadDotenv: false,
        autoloadBunfig: false,
      },
    });
  } finally {
    rmSync(buildDir, { recursive: true, force: true });
  }
  return { outfile, bytes: statSync(outfile).size, payloadBytes: payload.byteLength, payloadFiles: entries.length, hash };
}

function parseArgs(argv: string[]): BuildOptions {
  const opts: BuildOptions = { target: hostTarget(), outfile: join(ROOT, "dist/warren"), zstdLevel: PACK_ZSTD_LEVEL };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--bytecode") {
      opts.bytecode = true;
      continue;
    }
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--target") opts.target = value;
    else if (flag === "--outfile") opts.outfile = value;
    else if (flag === "--zstd-level") opts.zstdLevel = Number(value);
    else throw new Error(`unknown flag ${flag} (flags: --target, --outfile, --zstd-level, --bytecode)`);
  }
  if (!Number.isInteger(opts.zstdLevel) || opts.zstdLevel < 1 || opts.zstdLevel > 22) {
    throw new Error(`--zstd-level must be an integer in [1, 22], got ${opts.zstdLevel}`);
  }
  return opts;
}

if (import.meta.main) {
  try {
    const started = performance.now();
    const r = await buildWarren(parseArgs(process.argv.slice(2)));
    const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
    console.log(
      `built ${r.outfile}: ${mib(r.bytes)} ` +
        `(embedded runtime ${r.payloadFiles} files, ${mib(r.payloadBytes)} zstd, hash ${r.hash}) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  } catch (err) {
    // Bun.build throws an AggregateError whose message is only "Bundle failed".
    const details = (err as { errors?: unknown[] }).errors?.map(String).join("\n") ?? "";
    console.error(`build failed: ${err instanceof Error ? err.message : String(err)}${details ? `\n${details}` : ""}`);
    process.exit(1);
  }
}
