// Concurrent identical calls share one in-flight promise. When one commit
// wakes every member of a room, their syncs ask Redis the same question at
// the same moment (who is typing in the room); sharing the answer saves the
// round trips and, as importantly, resumes every caller in the same turn of
// the event loop, so their following database reads stay in one batch
// (server/storage/keyed-read.ts). Nothing is cached once the call settles.
export function shareInFlight<A extends unknown[], R>(call: (...args: A) => Promise<R>, keyOf: (...args: A) => string = (...args) => JSON.stringify(args)): (...args: A) => Promise<R> {
  const inFlight = new Map<string, Promise<R>>();
  return (...args: A) => {
    const key = keyOf(...args);
    const running = inFlight.get(key);
    if (running) return running;
    const started = call(...args).finally(() => inFlight.delete(key));
    inFlight.set(key, started);
    return started;
  };
}
