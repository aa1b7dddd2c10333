// What a listener tolerates before a request reaches express: header size and
// timeouts (Node server options), and the answer when a client breaks them or
// sends something Node's HTTP parser refuses (the `clientError` event). Node's
// own answer is a bare status line followed at once by destroying the socket,
// which a client still sending sees as a reset; ours is a Matrix error body
// and a lingering close.
import type { Server, ServerOptions, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { HomeserverConfig } from "../config/schema.ts";
import { ConfigError } from "../config/config-error.ts";
import type { Errcode } from "../errors/errcodes.ts";
import type { Logger } from "../observability/logger.ts";
import { lingeringClose } from "./connection-close.ts";

type Limits = HomeserverConfig["limits"];

/**
 * Node checks the header and request deadlines on a timer, not per socket;
 * checking at a quarter of the shorter deadline keeps a deadline within 25 %
 * of its value without scanning every connection constantly.
 */
function checkingInterval(limits: Limits): number {
  return Math.min(30_000, Math.max(100, Math.floor(Math.min(limits.headers_timeout_ms, limits.request_timeout_ms) / 4)));
}

/** Options for http.createServer / https.createServer from the `limits` config. */
export function listenerOptions(limits: Limits): ServerOptions {
  if (limits.headers_timeout_ms > limits.request_timeout_ms) {
    throw new ConfigError("limits.headers_timeout_ms must not be larger than limits.request_timeout_ms");
  }
  return {
    maxHeaderSize: limits.max_header_bytes,
    headersTimeout: limits.headers_timeout_ms,
    requestTimeout: limits.request_timeout_ms,
    keepAliveTimeout: limits.keep_alive_timeout_ms,
    connectionsCheckingInterval: checkingInterval(limits),
  };
}

const METHOD_AND_SPACE = /^(?:GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH) /;

/**
 * Node counts the request line and the headers against one maxHeaderSize and
 * reports either overflow the same way. The chunk that overflowed tells them
 * apart when it starts with the request line (as the first read of a request
 * does): if that line alone does not end within the limit, the target is too
 * long (414); otherwise the headers are (431).
 */
function overflowStatus(packet: Buffer | undefined, maxHeaderBytes: number): 414 | 431 {
  if (!packet || !METHOD_AND_SPACE.test(packet.subarray(0, 8).toString("latin1"))) return 431;
  const lineEnd = packet.indexOf(0x0a);
  return lineEnd === -1 || lineEnd > maxHeaderBytes ? 414 : 431;
}

interface Answer {
  status: number;
  reason: string;
  errcode: Errcode;
  error: string;
}

function answerFor(err: NodeJS.ErrnoException & { rawPacket?: Buffer }, maxHeaderBytes: number): Answer | undefined {
  switch (err.code) {
    case "HPE_HEADER_OVERFLOW":
      return overflowStatus(err.rawPacket, maxHeaderBytes) === 414
        ? { status: 414, reason: "URI Too Long", errcode: "M_TOO_LARGE", error: `Request line exceeds ${maxHeaderBytes} bytes` }
        : { status: 431, reason: "Request Header Fields Too Large", errcode: "M_TOO_LARGE", error: `Request headers exceed ${maxHeaderBytes} bytes` };
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return { status: 413, reason: "Content Too Large", errcode: "M_TOO_LARGE", error: "Chunk extensions too large" };
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return { status: 408, reason: "Request Timeout", errcode: "M_UNKNOWN", error: "Request not received in time" };
    case "ECONNRESET":
    case "EPIPE":
    case "HPE_INVALID_EOF_STATE":
      return undefined; // the client has gone; nobody to answer
    default:
      return { status: 400, reason: "Bad Request", errcode: "M_UNKNOWN", error: "Malformed HTTP request" };
  }
}

/** Answers what Node's HTTP parser refuses (and its timeouts) with a Matrix error, then closes. */
export function answerClientErrors(server: Server, maxHeaderBytes: number, log: Logger): void {
  const answered = new WeakSet<Duplex>();
  server.on("clientError", (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => {
    // The parser keeps failing on every later chunk of a refused connection.
    if (answered.has(socket)) return;
    answered.add(socket);
    const answer = answerFor(err, maxHeaderBytes);
    // Never write into a response that has started (Node's own rule).
    const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (!answer || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    log.info({ code: err.code, status: answer.status }, "client error");
    const body = JSON.stringify({ errcode: answer.errcode, error: answer.error });
    socket.write(
      `HTTP/1.1 ${answer.status} ${answer.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        // Without the CORS header a browser client could not read the error.
        `Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n${body}`,
    );
    lingeringClose(socket);
  });
}
