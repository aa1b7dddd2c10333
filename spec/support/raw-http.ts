// A raw TCP connection to the server, for requests fetch would never send:
// lying Content-Length, endless chunked bodies, slow clients, oversized
// request lines and headers. It records what comes back and when the server
// closes, and parses the first HTTP response it receives.
import { connect, type Socket } from "node:net";

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
  /** The body parsed as JSON when it is JSON. */
  body: Record<string, unknown> | undefined;
}

export class RawConnection {
  readonly socket: Socket;
  private received = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  /** Milliseconds since the connection opened at which the server's FIN (or a reset) arrived. */
  endedAt: number | undefined;
  /** The error the socket ended with, if any (e.g. ECONNRESET, EPIPE). */
  error: NodeJS.ErrnoException | undefined;
  readonly openedAt = Date.now();

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.wake();
    });
    const ended = () => {
      this.endedAt ??= Date.now() - this.openedAt;
      this.wake();
    };
    socket.on("end", ended);
    socket.on("close", ended);
    socket.on("error", (err: NodeJS.ErrnoException) => {
      this.error ??= err;
      ended();
    });
  }

  static open(baseUrl: string): Promise<RawConnection> {
    const url = new URL(baseUrl);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => resolve(new RawConnection(socket)));
      socket.once("error", reject);
    });
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  private until<T>(check: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(check()), timeoutMs);
      const test = () => {
        const value = check();
        if (value !== undefined || this.endedAt !== undefined) {
          clearTimeout(timer);
          resolve(value);
        } else {
          this.waiters.push(test);
        }
      };
      test();
    });
  }

  /** Whether a complete response has arrived (without waiting). */
  get response(): RawResponse | undefined {
    const headEnd = this.received.indexOf("\r\n\r\n");
    if (headEnd === -1) return undefined;
    const [statusLine = "", ...lines] = this.received.subarray(0, headEnd).toString("latin1").split("\r\n");
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers["content-length"] ?? 0);
    if (this.received.length < headEnd + 4 + length) return undefined;
    const text = this.received.subarray(headEnd + 4, headEnd + 4 + length).toString("utf8");
    let body: Record<string, unknown> | undefined;
    if ((headers["content-type"] ?? "").includes("application/json")) body = JSON.parse(text) as Record<string, unknown>;
    return { status: Number(statusLine.split(" ")[1]), headers, text, body };
  }

  /** The first response, or undefined if none arrived within `timeoutMs` (or before the server closed). */
  waitForResponse(timeoutMs: number): Promise<RawResponse | undefined> {
    return this.until(() => this.response, timeoutMs);
  }

  /** Resolves with the time (ms since open) the server closed, or undefined if it did not within `timeoutMs`. */
  async waitForClose(timeoutMs: number): Promise<number | undefined> {
    await this.until(() => this.endedAt, timeoutMs);
    return this.endedAt;
  }

  /** Writes and waits until the socket can take more, the server answers or the connection ends. */
  async write(data: string | Buffer): Promise<void> {
    if (this.endedAt !== undefined || this.socket.destroyed) return;
    if (this.socket.write(data)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.socket.off("drain", done);
        resolve();
      };
      this.socket.once("drain", done);
      this.waiters.push(done);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
