// Media helpers for integration tests: binary uploads and downloads over real
// HTTP (TestClient speaks JSON), every JSON answer checked against the spec's
// OpenAPI schema, and test images made with sharp.
import { Readable } from "node:stream";
import sharp from "sharp";
import { expectSpecResponse } from "./openapi.ts";

export interface MediaResponse {
  status: number;
  headers: Headers;
  bytes: Buffer;
  json: any;
}

export async function mediaRequest(
  baseUrl: string,
  method: string,
  path: string,
  options: { token?: string; body?: Buffer | Readable; contentType?: string; headers?: Record<string, string>; contentLength?: number } = {},
): Promise<MediaResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  if (options.contentType) headers["Content-Type"] = options.contentType;
  if (options.contentLength !== undefined) headers["Content-Length"] = String(options.contentLength);
  const body = options.body instanceof Readable ? (Readable.toWeb(options.body) as ReadableStream) : options.body;
  const res = await fetch(baseUrl + path, { method, headers, body, ...(options.body instanceof Readable ? { duplex: "half" } : {}) } as RequestInit);
  const bytes = Buffer.from(await res.arrayBuffer());
  let json: unknown;
  if ((res.headers.get("content-type") ?? "").startsWith("application/json")) {
    json = JSON.parse(bytes.toString("utf8"));
    expectSpecResponse(method, path, res.status, json);
  }
  return { status: res.status, headers: res.headers, bytes, json };
}

export async function uploadMedia(baseUrl: string, token: string, body: Buffer | Readable, contentType = "application/octet-stream", filename?: string): Promise<MediaResponse> {
  const query = filename === undefined ? "" : `?filename=${encodeURIComponent(filename)}`;
  return mediaRequest(baseUrl, "POST", `/_matrix/media/v3/upload${query}`, { token, body, contentType });
}

/** The server and media ID of an mxc:// URI. */
export function mxcParts(uri: string): { serverName: string; mediaId: string } {
  const match = /^mxc:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!match) throw new Error(`not an mxc URI: ${uri}`);
  return { serverName: match[1]!, mediaId: match[2]! };
}

export const downloadPath = (uri: string, fileName?: string) => {
  const { serverName, mediaId } = mxcParts(uri);
  return `/_matrix/client/v1/media/download/${encodeURIComponent(serverName)}/${mediaId}${fileName === undefined ? "" : `/${encodeURIComponent(fileName)}`}`;
};

export const thumbnailPath = (uri: string, query: string) => {
  const { serverName, mediaId } = mxcParts(uri);
  return `/_matrix/client/v1/media/thumbnail/${encodeURIComponent(serverName)}/${mediaId}?${query}`;
};

export type ImageFormat = "png" | "jpeg" | "gif" | "webp";

/** A gradient test image of the given size. */
export async function testImage(format: ImageFormat, width = 400, height = 300): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const i = (y * width + x) * 3;
      pixels[i] = (x * 255) / width;
      pixels[i + 1] = (y * 255) / height;
      pixels[i + 2] = 128;
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } }).toFormat(format).toBuffer();
}

/** An animated image of `frames` frames (GIF or WebP). */
export async function animatedImage(format: "gif" | "webp", width = 120, height = 90, frames = 3): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * frames * 4);
  for (let f = 0; f < frames; f += 1) {
    for (let i = 0; i < width * height; i += 1) {
      const o = (f * width * height + i) * 4;
      pixels[o] = (f * 80) % 256;
      pixels[o + 1] = 200 - f * 50;
      pixels[o + 2] = 60;
      pixels[o + 3] = 255;
    }
  }
  return sharp(pixels, { raw: { width, height: height * frames, channels: 4, pageHeight: height } as never }).toFormat(format, { loop: 0 } as never).toBuffer();
}
