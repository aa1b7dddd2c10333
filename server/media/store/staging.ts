// Streams bytes to a temporary file while hashing and counting them: the
// shared first half of every store's `stage`. Memory use is one chunk at a
// time plus the first HEAD_BYTES kept for sniffing.
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ContentTooLargeError, HEAD_BYTES, type StagedContent } from "./media-store.ts";

export interface StagedFile {
  path: string;
  sha256: string;
  size: number;
  head: Buffer;
}

export async function stageToFile(input: Readable, tmpDir: string, maxBytes: number): Promise<StagedFile> {
  await mkdir(tmpDir, { recursive: true });
  const path = join(tmpDir, `${Date.now()}-${randomBytes(8).toString("hex")}.part`);
  const hash = createHash("sha256");
  const head: Buffer[] = [];
  let headLength = 0;
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > maxBytes) return done(new ContentTooLargeError(maxBytes));
      hash.update(chunk);
      if (headLength < HEAD_BYTES) {
        const piece = chunk.subarray(0, HEAD_BYTES - headLength);
        head.push(Buffer.from(piece));
        headLength += piece.length;
      }
      done(null, chunk);
    },
  });
  const file = createWriteStream(path, { flush: true });
  try {
    await pipeline(input, meter, file);
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  }
  return { path, sha256: hash.digest("hex"), size, head: Buffer.concat(head, headLength) };
}

/** A store's `stage`: the bytes staged to a file, `commit` supplied by the store, `discard` removing the file. */
export async function stageContent(input: Readable, tmpDir: string, maxBytes: number, commit: (file: StagedFile) => Promise<void>): Promise<StagedContent> {
  const staged = await stageToFile(input, tmpDir, maxBytes);
  return {
    sha256: staged.sha256,
    size: staged.size,
    head: staged.head,
    commit: () => commit(staged),
    discard: () => rm(staged.path, { force: true }),
  };
}
