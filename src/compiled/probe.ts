// node-llama-cpp's binding probe, as it reaches the compiled binary.
//
// On Linux, getLlama() checks that a prebuilt addon loads before loading it itself: it calls
// child_process.fork(<.../dist/bindings/utils/testBindingBinary.js>) with TEST_BINDING_CP=true
// and an IPC channel, and that module, when imported, answers the parent's messages. fork()
// runs process.execPath, which in a compiled executable is Warren itself, so the child arrives
// here as `warren <that path>`. It must do nothing but import that file: running the CLI
// instead would start a second server (and the probe would time out after 5 minutes).

const PROBE_FILE_SUFFIX = "/node_modules/node-llama-cpp/dist/bindings/utils/testBindingBinary.js";

/** Same condition testBindingBinary.js itself checks, plus the path shape we expect. */
export function bindingProbeFile(argv: readonly string[], env: Record<string, string | undefined>, hasIpc: boolean): string | null {
  if (env.TEST_BINDING_CP !== "true" || !hasIpc) return null;
  const file = argv[2];
  // Only node-llama-cpp's own probe module: the variable and an IPC channel alone must not make
  // the binary import an arbitrary file named on its command line.
  return file !== undefined && file.startsWith("/") && file.endsWith(PROBE_FILE_SUFFIX) ? file : null;
}

export async function runBindingProbe(file: string): Promise<void> {
  // The module registers its IPC message handler on import; the parent ends the process.
  await import(file);
}
