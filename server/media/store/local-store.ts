// The filesystem store: <store_path>/content/<aa>/<bb>/<sha256>, staged under
// <store_path>/tmp/ and renamed into place after the file was fsync'd, then
// the folder fsync'd, so a 200 for an upload means the bytes survive a crash.
import { createReadStream } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { isSha256, putByStaging, type ByteRange, type MediaStore } from "./media-store.ts";
import { stageContent } from "./staging.ts";

async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export function createLocalMediaStore(root: string): MediaStore {
  const tmpDir = join(root, "tmp");
  const pathOf = (sha256: string) => {
    if (!isSha256(sha256)) throw new Error(`not a SHA-256: ${sha256}`);
    return join(root, "content", sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  };
  const exists = async (sha256: string) => (await stat(pathOf(sha256)).catch(() => undefined))?.isFile() === true;

  const store: MediaStore = {
    kind: "local",
    stage: (input, options) =>
      stageContent(input, tmpDir, options.maxBytes, async (staged) => {
        const target = pathOf(staged.sha256);
        if (await exists(staged.sha256)) {
          // Same hash, same bytes: the stored file stays, the copy goes.
          await rm(staged.path, { force: true });
          return;
        }
        await mkdir(dirname(target), { recursive: true });
        await rename(staged.path, target);
        await fsyncDir(dirname(target));
      }),
    put: (input, options) => putByStaging(store, input, options),
    async get(sha256: string, range?: ByteRange): Promise<Readable | undefined> {
      if (!(await exists(sha256))) return undefined;
      return createReadStream(pathOf(sha256), range ? { start: range.start, end: range.end } : {});
    },
    exists,
    async delete(sha256) {
      await rm(pathOf(sha256), { force: true });
    },
  };
  return store;
}
