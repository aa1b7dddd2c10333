// Joins in progress. The resident server starts sending a room's events as
// soon as it accepts our send_join, which can be before we have stored the
// room; a transaction carrying them waits here for the join to finish instead
// of dropping them as PDUs of a room we are not in.
export class JoinGate {
  private readonly pending = new Map<string, Promise<unknown>>();

  /** Runs a join of `roomId`; transactions for the room wait for it. */
  async run<T>(roomId: string, join: () => Promise<T>): Promise<T> {
    const running = join();
    this.pending.set(roomId, running);
    try {
      return await running;
    } finally {
      if (this.pending.get(roomId) === running) this.pending.delete(roomId);
    }
  }

  /** Resolves once no join of `roomId` is running (whatever its outcome). */
  async settled(roomId: string): Promise<void> {
    const running = this.pending.get(roomId);
    if (running) await running.catch(() => undefined);
  }
}
