// A `bench http` contender under Bun: `bun bench/http/child.ts bare|elysia|warren|warren-bare`.
// Listens on 127.0.0.1 on an ephemeral port, prints the port as its first stdout line, serves
// GET /health with the same small JSON body until killed.

const BODY = { success: true, data: { status: "healthy" } };
const HOST = "127.0.0.1";
/** Idle keep-alive connections must survive the idle-memory measurement (seconds; Bun's max is 255). */
const IDLE_TIMEOUT_S = 240;

const JSON_BODY = JSON.stringify(BODY);

/** The bare handler: no framework, a Response built by hand. */
function bareFetch(req: Request): Response {
  if (req.url.endsWith("/health")) return new Response(JSON_BODY, { headers: { "content-type": "application/json" } });
  return new Response("not found", { status: 404 });
}

async function bare(): Promise<number> {
  const server = Bun.serve({ hostname: HOST, port: 0, idleTimeout: IDLE_TIMEOUT_S, fetch: bareFetch });
  return server.port!;
}

async function elysiaApp() {
  const { Elysia } = await import("elysia");
  return new Elysia().get("/health", () => BODY);
}

/** The same app as Warren's own (src/api/app.ts) builds it: JSON answers prepared for the transport. */
async function warrenApp() {
  const { Elysia } = await import("elysia");
  const { preparedResponses } = await import("../../src/api/prepared.ts");
  return new Elysia().use(preparedResponses()).get("/health", () => BODY);
}

async function elysia(): Promise<number> {
  const app = (await elysiaApp()).listen({ hostname: HOST, port: 0, idleTimeout: IDLE_TIMEOUT_S });
  return app.server!.port!;
}

async function warren(): Promise<number> {
  const { startWarrenContender } = await import("./child-warren.ts");
  // As src/main.ts calls it.
  const fetchApp = (await warrenApp()).fetch;
  return startWarrenContender(fetchApp, HOST);
}

/** Warren's engine with the bare handler: the transports compared without the framework's share. */
async function warrenBare(): Promise<number> {
  const { startWarrenContender } = await import("./child-warren.ts");
  return startWarrenContender(bareFetch, HOST);
}

const kinds: Record<string, () => Promise<number>> = { bare, elysia, warren, "warren-bare": warrenBare };

if (import.meta.main) {
  const start = kinds[process.argv[2] ?? ""];
  if (!start) {
    process.stderr.write(`usage: bun bench/http/child.ts ${Object.keys(kinds).join("|")}\n`);
    process.exit(2);
  }
  const port = await start();
  process.stdout.write(`${port}\n`);
  const stop = () => process.exit(0);
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
