// Where media bytes live. Content is addressed by its SHA-256, so identical
// uploads are stored once; which media IDs use a file is PostgreSQL's business
// (media_content and the rows naming it), not the store's.
//
// Writing is two steps so that callers can hold the content row's lock while
// the file becomes visible: `stage` streams the bytes to a temporary file
// (hashing and counting them, stopping at a byte limit), then `commit` makes
// that file the content of its hash, durably, or drops it when the content is
// already there.
import type { Readable } from "node:stream";

/** The upload was longer than allowed; nothing was kept. */
export class ContentTooLargeError extends Error {
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    super(`content exceeds ${maxBytes} bytes`);
    this.name = "ContentTooLargeError";
    this.maxBytes = maxBytes;
  }
}

export interface StagedContent {
  sha256: string;
  size: number;
  /** The first bytes (up to 64 KiB), for content sniffing without a second read. */
  head: Buffer;
  /** Makes the staged bytes the stored content of `sha256` (durable when it resolves). */
  commit(): Promise<void>;
  /** Throws the staged bytes away (after a failure, or when commit is not wanted). */
  discard(): Promise<void>;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

export interface MediaStore {
  readonly kind: "local" | "s3";
  stage(input: Readable, options: { maxBytes: number }): Promise<StagedContent>;
  /** stage + commit. */
  put(input: Readable, options: { maxBytes: number }): Promise<{ sha256: string; size: number; head: Buffer }>;
  /** The bytes of `sha256`, or undefined when the store has no such content. */
  get(sha256: string, range?: ByteRange): Promise<Readable | undefined>;
  exists(sha256: string): Promise<boolean>;
  /** Removes the content; absent content is not an error. */
  delete(sha256: string): Promise<void>;
}

export const HEAD_BYTES = 65536;

/** `put` for any store: stage, then commit. */
export async function putByStaging(store: Pick<MediaStore, "stage">, input: Readable, options: { maxBytes: number }): Promise<{ sha256: string; size: number; head: Buffer }> {
  const staged = await store.stage(input, options);
  await staged.commit();
  return { sha256: staged.sha256, size: staged.size, head: staged.head };
}

export function isSha256(value: string): boolean {
  return /^[0-9a-f]{64}$/.test(value);
}
