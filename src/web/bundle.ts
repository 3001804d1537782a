// The console's files: index.html, style.css and app/ bundled by Bun.build into one page, one
// script and one style sheet (no CDN, nothing fetched at run time). Run from source, the server
// calls this on the first request for the console, so what it serves always matches the sources
// and no build output is kept. scripts/build.ts calls it too and puts the result into the compiled
// executable in place of this module, whose Bun.build could not find these sources there.
import { basename, join } from "node:path";

interface ConsoleFile {
  /** The URL path it is served at: "/" for the page, ASSET_PREFIX + hashed name for the rest. */
  path: string;
  /** Content-Type, charset included. */
  type: string;
  text: string;
}

/** Where the page's script and style sheet are served; the page names them with this prefix. */
const ASSET_PREFIX = "/console/";

export async function bundleConsole(): Promise<ConsoleFile[]> {
  const result = await Bun.build({
    entrypoints: [join(import.meta.dir, "index.html")],
    target: "browser",
    minify: true,
    publicPath: ASSET_PREFIX,
    // Content hashes in the names let browsers cache the assets for good (the page itself is revalidated).
    naming: { entry: "[name]-[hash].[ext]", chunk: "[name]-[hash].[ext]", asset: "[name]-[hash].[ext]" },
    throw: true,
  });
  return Promise.all(
    result.outputs.map(async (o) => ({
      path: o.type.startsWith("text/html") ? "/" : ASSET_PREFIX + basename(o.path),
      type: o.type,
      text: await o.text(),
    })),
  );
}
