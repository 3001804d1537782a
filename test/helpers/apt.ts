// Debian packages a test needs (nginx, wrk): found, or installed with apt-get when running as root.
// A test that cannot get its package says why, and is skipped only outside CI (CI must run it).
import { spawn } from "bun";

const INSTALL_TIMEOUT_MS = 240_000;

async function runQuiet(cmd: string[]): Promise<{ code: number; out: string }> {
  const p = spawn({ cmd, env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), INSTALL_TIMEOUT_MS);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code, out: (out + err).slice(-2000) };
}

/** `find()` again after installing `pkg` when it found nothing and this is root; else why not. */
export async function ensurePackage(pkg: string, find: () => string | undefined): Promise<{ bin: string; why?: undefined } | { bin?: undefined; why: string }> {
  const found = find();
  if (found) return { bin: found };
  if (process.getuid?.() !== 0) return { why: `${pkg} is not installed and this user cannot install it (as root: apt-get install -y ${pkg})` };
  if (!Bun.which("apt-get")) return { why: `${pkg} is not installed and there is no apt-get to install it with` };
  console.warn(`[tests] ${pkg} missing: apt-get install -y ${pkg} ...`);
  let r = await runQuiet(["apt-get", "install", "-y", "-q", pkg]);
  // A fresh image has no package lists yet.
  if (r.code !== 0) {
    await runQuiet(["apt-get", "update", "-q"]);
    r = await runQuiet(["apt-get", "install", "-y", "-q", pkg]);
  }
  const bin = find();
  return bin ? { bin } : { why: `apt-get install -y ${pkg} failed (exit ${r.code}):\n${r.out}` };
}

/** Skip only outside CI: in CI a missing package fails the test (with `why`) instead of passing as skipped. */
export const skipUnlessCi = (available: boolean): boolean => !available && !process.env.CI;
