// Plain HTTP/1.1 JSON requests with keep-alive, the load generator's only
// transport to either server. One agent per server; `maxSockets` is high so
// long-polls never queue behind each other in the client.
import { Agent, request } from "node:http";

export interface HttpResult {
  status: number;
  body: any;
  /** Response body size in bytes. */
  bytes: number;
}

export interface RequestOptions {
  body?: unknown;
  token?: string;
  /** Abort after this long (the long-poll timeout plus a margin); none when absent. */
  timeoutMs?: number;
}

export class JsonHttp {
  readonly baseUrl: string;
  private readonly agent: Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(baseUrl: string, maxSockets = 8192) {
    this.baseUrl = baseUrl;
    const url = new URL(baseUrl);
    this.host = url.hostname;
    this.port = Number(url.port);
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  request(method: string, path: string, options: RequestOptions = {}): Promise<HttpResult> {
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: Record<string, string | number> = {};
    if (payload) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = payload.length;
    }
    if (options.token) headers.Authorization = `Bearer ${options.token}`;
    return new Promise((resolve, reject) => {
      const req = request({ host: this.host, port: this.port, path, method, agent: this.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const raw = Buffer.concat(chunks);
          let body: unknown;
          try {
            body = raw.length > 0 ? JSON.parse(raw.toString("utf8")) : undefined;
          } catch {
            body = raw.toString("utf8");
          }
          resolve({ status: res.statusCode ?? 0, body, bytes: raw.length });
        });
      });
      if (options.timeoutMs !== undefined) req.setTimeout(options.timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer in ${options.timeoutMs} ms`)));
      req.on("error", reject);
      req.end(payload);
    });
  }

  /** Like `request`, but anything other than 200 is an error naming the answer. */
  async ok(method: string, path: string, options: RequestOptions = {}): Promise<any> {
    const res = await this.request(method, path, options);
    if (res.status !== 200) throw new Error(`${method} ${path.split("?")[0]} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
    return res.body;
  }

  close(): void {
    this.agent.destroy();
  }
}
