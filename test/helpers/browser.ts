// A real headless Chromium for the console's tests: Debian's chromium package (installed with
// apt-get when missing and root, as nginx is for the scale-out tests), driven by playwright-core
// over its own protocol, with no browser download of Playwright's.
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { ensurePackage } from "./apt.ts";

const PLACES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium"];

/** Chromium's path (WARREN_CHROMIUM wins), installing Debian's package when missing and root; else why not. */
export function ensureChromium(): ReturnType<typeof ensurePackage> {
  return ensurePackage("chromium", () => process.env.WARREN_CHROMIUM ?? PLACES.find((p) => existsSync(p)) ?? Bun.which("chromium") ?? undefined);
}

export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    // --no-sandbox: tests run as root in CI, where Chromium's sandbox refuses to start. The rest keep
    // it from reaching out (component updates, sync, Google's hosts): the machines have no network.
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage"],
  });
}

/** Width and height from a PNG's IHDR chunk; throws when the bytes are not a PNG. */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (png.length < 24 || !signature.every((b, i) => png[i] === b)) throw new Error("not a PNG");
  if (new TextDecoder().decode(png.subarray(12, 16)) !== "IHDR") throw new Error("PNG without IHDR first");
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}
