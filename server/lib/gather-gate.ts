// Lets callers that arrive within a short window through together. A sync
// that finds news already waiting (a long-poll coming back right after its
// answer, while more was committed) would otherwise compute alone; the
// members of a busy room come back spread over a few milliseconds each, and
// computed one by one their reads cannot share statements. Held at the gate
// for at most `windowMs`, they are released in one timer callback, so their
// reads land in the same turn of the event loop and batch
// (server/storage/keyed-read.ts).
export function createGatherGate(windowMs: number): () => Promise<void> {
  let waiting: Array<() => void> | undefined;
  return () =>
    new Promise<void>((resolve) => {
      if (!waiting) {
        const batch: Array<() => void> = (waiting = []);
        setTimeout(() => {
          waiting = undefined;
          for (const release of batch) release();
        }, windowMs);
      }
      waiting.push(resolve);
    });
}
