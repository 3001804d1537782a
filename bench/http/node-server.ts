// The node:http contender. Node 20 cannot run TypeScript files, so the server is plain JavaScript
// handed to `node --input-type=module -e`. Same contract as child.ts: first stdout line is the port.

/** Idle keep-alive connections must survive the idle-memory measurement (Node's default is 5 s). */
const KEEP_ALIVE_TIMEOUT_MS = 240_000;

const NODE_SERVER_SOURCE = `
import http from "node:http";
const body = JSON.stringify({ success: true, data: { status: "healthy" } });
const len = String(Buffer.byteLength(body));
const server = http.createServer((req, res) => {
  if (req.url === "/health") {
    res.writeHead(200, { "content-type": "application/json", "content-length": len });
    res.end(body);
  } else {
    res.writeHead(404, { "content-length": "9" });
    res.end("not found");
  }
});
server.keepAliveTimeout = ${KEEP_ALIVE_TIMEOUT_MS};
server.headersTimeout = ${KEEP_ALIVE_TIMEOUT_MS + 1000};
server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"));
process.on("SIGTERM", () => process.exit(0));
`;

export function nodeServerCommand(node: string): string[] {
  return [node, "--input-type=module", "-e", NODE_SERVER_SOURCE];
}
