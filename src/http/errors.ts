// HTTP engine errors as data: one enum, one table, prebuilt response bytes.
// Decoders return `-code` instead of throwing; the connection maps the code to bytes here.
import { statusLine, writeLatin1 } from "./serialize.ts";

/** Stable error codes. Values start at 1 so that `-code` is always negative in return protocols. */
export enum HttpError {
  InvalidRequestLine = 1,
  InvalidMethod,
  InvalidTarget,
  InvalidVersion,
  VersionNotSupported,
  InvalidLineEnding,
  InvalidHeaderName,
  InvalidHeaderValue,
  WhitespaceBeforeColon,
  ObsFold,
  MissingHost,
  DuplicateHost,
  InvalidHost,
  ContentLengthWithTransferEncoding,
  InvalidContentLength,
  ConflictingContentLength,
  TransferEncodingNotChunked,
  TransferEncodingOnHttp10,
  UnsupportedTransferCoding,
  InvalidChunkSize,
  ChunkSizeOverflow,
  InvalidChunkTerminator,
  ChunkLineTooLong,
  InvalidTrailer,
  TrailerTooLarge,
  HeadTooLarge,
  TooManyHeaders,
  TargetTooLong,
  BodyTooLarge,
  ExpectationFailed,
  MethodNotImplemented,
  HeaderTimeout,
  BodyTimeout,
  InternalError,
}

interface ErrorSpec {
  readonly status: number;
  /** Stable machine-readable code in the JSON body; clients and tests key on it. */
  readonly code: string;
  readonly message: string;
  /** False only where framing is intact, so the connection may carry on (a handler failure). */
  readonly close: boolean;
}

const spec = (status: number, code: string, message: string, close = true): ErrorSpec => ({ status, code, message, close });

export const ERROR_SPECS: Readonly<Record<HttpError, ErrorSpec>> = {
  [HttpError.InvalidRequestLine]: spec(400, "invalid_request_line", "malformed request line"),
  [HttpError.InvalidMethod]: spec(400, "invalid_method", "method is not a valid token"),
  [HttpError.InvalidTarget]: spec(400, "invalid_target", "request-target is malformed"),
  [HttpError.InvalidVersion]: spec(400, "invalid_version", "malformed HTTP version"),
  [HttpError.VersionNotSupported]: spec(505, "http_version_not_supported", "only HTTP/1.x is supported"),
  [HttpError.InvalidLineEnding]: spec(400, "invalid_line_ending", "lines must end with CRLF"),
  [HttpError.InvalidHeaderName]: spec(400, "invalid_header_name", "header name is not a valid token"),
  [HttpError.InvalidHeaderValue]: spec(400, "invalid_header_value", "header value contains a control character"),
  [HttpError.WhitespaceBeforeColon]: spec(400, "whitespace_before_colon", "whitespace between header name and colon"),
  [HttpError.ObsFold]: spec(400, "obs_fold", "obsolete line folding is not accepted"),
  [HttpError.MissingHost]: spec(400, "missing_host", "HTTP/1.1 request without Host"),
  [HttpError.DuplicateHost]: spec(400, "duplicate_host", "more than one Host header"),
  [HttpError.InvalidHost]: spec(400, "invalid_host", "Host header is malformed"),
  [HttpError.ContentLengthWithTransferEncoding]: spec(400, "content_length_with_transfer_encoding", "both Content-Length and Transfer-Encoding"),
  [HttpError.InvalidContentLength]: spec(400, "invalid_content_length", "Content-Length is not a valid number"),
  [HttpError.ConflictingContentLength]: spec(400, "conflicting_content_length", "Content-Length values differ"),
  [HttpError.TransferEncodingNotChunked]: spec(400, "transfer_encoding_not_chunked", "the final transfer coding must be chunked"),
  [HttpError.TransferEncodingOnHttp10]: spec(400, "transfer_encoding_http10", "Transfer-Encoding in an HTTP/1.0 request"),
  [HttpError.UnsupportedTransferCoding]: spec(501, "unsupported_transfer_coding", "only the chunked transfer coding is supported"),
  [HttpError.InvalidChunkSize]: spec(400, "invalid_chunk_size", "chunk size is not hexadecimal"),
  [HttpError.ChunkSizeOverflow]: spec(400, "chunk_size_overflow", "chunk size is too large"),
  [HttpError.InvalidChunkTerminator]: spec(400, "invalid_chunk_terminator", "chunk not followed by CRLF"),
  [HttpError.ChunkLineTooLong]: spec(400, "chunk_line_too_long", "chunk size line is too long"),
  [HttpError.InvalidTrailer]: spec(400, "invalid_trailer", "malformed trailer field"),
  [HttpError.TrailerTooLarge]: spec(431, "trailer_too_large", "trailer section is too large"),
  [HttpError.HeadTooLarge]: spec(431, "head_too_large", "request head is too large"),
  [HttpError.TooManyHeaders]: spec(431, "too_many_headers", "too many header fields"),
  [HttpError.TargetTooLong]: spec(414, "target_too_long", "request-target is too long"),
  [HttpError.BodyTooLarge]: spec(413, "body_too_large", "request body is too large"),
  [HttpError.ExpectationFailed]: spec(417, "expectation_failed", "only Expect: 100-continue is supported"),
  [HttpError.MethodNotImplemented]: spec(501, "method_not_implemented", "request method not implemented"),
  [HttpError.HeaderTimeout]: spec(408, "header_timeout", "request head not received in time"),
  [HttpError.BodyTimeout]: spec(408, "body_timeout", "request body not received in time"),
  [HttpError.InternalError]: spec(500, "internal_error", "internal server error", false),
};

/** `{"success":false,"error":{...}}`: the same shape the API layer uses for its errors. */
function errorJson(code: HttpError): string {
  const s = ERROR_SPECS[code];
  return JSON.stringify({ success: false, error: { code: s.code, message: s.message } });
}

function ascii(str: string): Uint8Array {
  const out = new Uint8Array(str.length);
  writeLatin1(str, out, 0);
  return out;
}

interface Prebuilt {
  /** Status line; the Date line goes between it and `rest`. */
  line: Uint8Array;
  /** Headers (with Connection: close when the spec closes), blank line and JSON body. */
  rest: Uint8Array;
  body: Uint8Array;
}

const prebuilt = new Map<HttpError, Prebuilt>();
for (const key of Object.keys(ERROR_SPECS)) {
  const code = Number(key) as HttpError;
  const s = ERROR_SPECS[code];
  const json = errorJson(code);
  const conn = s.close ? "connection: close\r\n" : "";
  prebuilt.set(code, {
    line: ascii(statusLine(s.status)),
    rest: ascii(`content-type: application/json\r\ncontent-length: ${json.length}\r\n${conn}\r\n${json}`),
    body: ascii(json),
  });
}

/** Complete bytes of a closing error response; only the Date line is filled in per call. */
export function errorResponseBytes(code: HttpError, dateLine: string): Uint8Array {
  const p = prebuilt.get(code)!;
  const out = new Uint8Array(p.line.length + dateLine.length + p.rest.length);
  out.set(p.line, 0);
  writeLatin1(dateLine, out, p.line.length);
  out.set(p.rest, p.line.length + dateLine.length);
  return out;
}

/** JSON body alone, for errors sent through the normal response path (keep-alive 500). */
export function errorBody(code: HttpError): Uint8Array {
  return prebuilt.get(code)!.body;
}
