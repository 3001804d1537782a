// What a complete request head says about the message around it (RFC 9112 §6, §9.3; RFC 9110 §7.2,
// §10.1.1): its body framing, whether the connection persists, and the checks on Host and Expect.
// Pure; the parser calls it once the head's fields are decoded.
import { HttpError } from "./errors.ts";

/** The parts of a request head this file fills in. */
interface BodyFraming {
  /** -1 when absent. Mutually exclusive with `chunked`. */
  contentLength: number;
  chunked: boolean;
  keepAlive: boolean;
  expectContinue: boolean;
}

/** Resolves body framing, keep-alive, Host and Expect from the decoded fields (RFC 9112 §6, §9.3),
 *  in this order: Content-Length values as their fields come, then Host, Transfer-Encoding, Expect.
 *  `h`: flat [name, value...], names lowercased; `hostsValid`: every Host value passed validHost.
 *  Returns 0 or -HttpError. */
export function resolveFraming(h: readonly string[], minor: number, hostsValid: boolean, out: BodyFraming): number {
  let hosts = 0, contentLength = -1, te: string[] | null = null;
  let close = false, keepAlive = false, expect: string | null = null;
  for (let k = 0; k < h.length; k += 2) {
    const name = h[k]!;
    if (name.length > 17) continue;
    switch (name) {
      case "host":
        hosts++;
        break;
      case "content-length": {
        const n = parseContentLength(h[k + 1]!);
        if (n === CONFLICT || (n >= 0 && contentLength >= 0 && n !== contentLength)) return -HttpError.ConflictingContentLength;
        if (n < 0) return -HttpError.InvalidContentLength;
        contentLength = n;
        break;
      }
      case "transfer-encoding":
        te ??= [];
        for (const t of listItems(h[k + 1]!)) te.push(t);
        break;
      case "connection":
        for (const t of listItems(h[k + 1]!)) {
          if (t === "close") close = true;
          else if (t === "keep-alive") keepAlive = true;
        }
        break;
      case "expect":
        expect = h[k + 1]!.toLowerCase();
        break;
    }
  }
  if (hosts > 1) return -HttpError.DuplicateHost;
  if (hosts === 0 && minor === 1) return -HttpError.MissingHost;
  if (!hostsValid) return -HttpError.InvalidHost;
  if (te !== null) {
    const err = checkTransferEncoding(te, minor, contentLength);
    if (err !== 0) return err;
  }
  if (expect !== null && expect !== "100-continue") return -HttpError.ExpectationFailed;
  out.contentLength = te === null ? contentLength : -1;
  out.chunked = te !== null;
  out.keepAlive = minor === 1 ? !close : keepAlive && !close;
  out.expectContinue = expect !== null && minor === 1;
  return 0;
}

function checkTransferEncoding(codings: string[], minor: number, contentLength: number): number {
  if (minor === 0) return -HttpError.TransferEncodingOnHttp10;
  if (contentLength >= 0) return -HttpError.ContentLengthWithTransferEncoding;
  if (codings[codings.length - 1] !== "chunked") return -HttpError.TransferEncodingNotChunked;
  if (codings.indexOf("chunked") !== codings.length - 1) return -HttpError.TransferEncodingNotChunked;
  if (codings.length > 1) return -HttpError.UnsupportedTransferCoding;
  return 0;
}

/** Comma-separated list elements, trimmed and lowercased, empty elements dropped (RFC 9110 §5.6.1). */
function listItems(value: string): string[] {
  const items: string[] = [];
  for (const part of value.split(",")) {
    const t = part.trim().toLowerCase();
    if (t !== "") items.push(t);
  }
  return items;
}

const CONFLICT = -2;

/** 1*DIGIT, or a list of identical ones ("5, 5"). Returns -1 when malformed or beyond 10^15, CONFLICT when the list differs. */
function parseContentLength(value: string): number {
  let result = -1;
  for (const part of value.split(",")) {
    const t = part.trim();
    if (t.length === 0 || t.length > 15) return -1;
    let n = 0;
    for (let i = 0; i < t.length; i++) {
      const d = t.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return -1;
      n = n * 10 + d;
    }
    if (result >= 0 && n !== result) return CONFLICT;
    result = n;
  }
  return result;
}

/** uri-host [":" port]: reg-name, IPv4 or IP-literal characters only (RFC 3986 §3.2.2). */
export function validHost(buf: Uint8Array, a: number, b: number): boolean {
  for (let i = a; i < b; i++) if (HOST_CHAR[buf[i]!] !== 1) return false;
  return true;
}

const HOST_CHAR = new Uint8Array(256);
for (const c of "-._~!$&'()*+,;=[]%:") HOST_CHAR[c.charCodeAt(0)] = 1;
for (let b = 0x30; b <= 0x39; b++) HOST_CHAR[b] = 1;
for (let b = 0x41; b <= 0x5a; b++) HOST_CHAR[b] = HOST_CHAR[b + 0x20] = 1;
