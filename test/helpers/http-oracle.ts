// The response head as a plain string: the oracle src/http/serialize.ts's HeadEncoder is tested
// against (it writes the same bytes without building the string).
import { FRAME_CHUNKED, statusLine } from "../../src/http/serialize.ts";

/**
 * `headerLines` are the application's headers rendered as "name: value\r\n"; `frame` a
 * Content-Length, FRAME_CHUNKED or FRAME_NONE; `connection` "close", "keep-alive" or "".
 */
export function responseHead(status: number, headerLines: string, frame: number, connection: string, dateLine: string): string {
  let head = statusLine(status) + dateLine + headerLines;
  if (frame >= 0) head += `content-length: ${frame}\r\n`;
  else if (frame === FRAME_CHUNKED) head += "transfer-encoding: chunked\r\n";
  if (connection !== "") head += `connection: ${connection}\r\n`;
  return head + "\r\n";
}
