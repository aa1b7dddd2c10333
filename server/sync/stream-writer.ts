// Writes that /sync delivers but that are not room events (receipts, account
// data, typing changes) take their position from the same global stream, so
// one sync token covers them all.
import type { Database, Queryable } from "../storage/database.ts";
import { allocateStreamPositions } from "../storage/events.ts";
import type { Notifier, StreamChange } from "./notifier.ts";

export interface StreamWriter {
  /** Runs `work` in a transaction with a fresh position, then wakes the waiters named by `audience`. */
  write(audience: Omit<StreamChange, "position">, work: (tx: Queryable, position: number) => Promise<void>): Promise<number>;
}

export function createStreamWriter(db: Database, notifier: Notifier): StreamWriter {
  return {
    async write(audience, work) {
      const position = await db.transaction(async (tx) => {
        const [position] = await allocateStreamPositions(tx, 1);
        await work(tx, position!);
        return position!;
      });
      await notifier.notify({ ...audience, position });
      return position;
    },
  };
}
