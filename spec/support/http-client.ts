// A small HTTP client for integration tests: real fetch against the running
// server, and every JSON response of a spec endpoint validated against the
// spec's OpenAPI schema (a mismatch fails the test).
import { expectSpecResponse } from "./openapi.ts";

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface RequestOptions {
  token?: string;
  /** Raw body text (sent as-is); otherwise `json` is serialised. */
  raw?: string;
  json?: unknown;
  headers?: Record<string, string>;
  /** Skip schema validation: for endpoints the spec does not define (/health, /metrics). */
  unspecified?: boolean;
}

export class TestClient {
  readonly baseUrl: string;
  constructor(baseUrl: string) {
    this.baseUrl = baseUrl;
  }

  async request<T = Record<string, unknown>>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.Authorization = `Bearer ${options.token}`;
    let body: string | undefined = options.raw;
    if (body === undefined && options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers["Content-Type"] ??= "application/json";
    }
    const res = await fetch(this.baseUrl + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = undefined;
    if ((res.headers.get("content-type") ?? "").includes("application/json")) parsed = JSON.parse(text);
    if (!options.unspecified && parsed !== undefined && path.startsWith("/_matrix/")) {
      expectSpecResponse(method, path, res.status, parsed);
    }
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  }

  get<T = Record<string, unknown>>(path: string, options?: RequestOptions) {
    return this.request<T>("GET", path, options);
  }
  post<T = Record<string, unknown>>(path: string, json?: unknown, options: RequestOptions = {}) {
    return this.request<T>("POST", path, { ...options, json: json ?? options.json });
  }
  put<T = Record<string, unknown>>(path: string, json?: unknown, options: RequestOptions = {}) {
    return this.request<T>("PUT", path, { ...options, json: json ?? options.json });
  }
  delete<T = Record<string, unknown>>(path: string, options?: RequestOptions) {
    return this.request<T>("DELETE", path, options);
  }
}
