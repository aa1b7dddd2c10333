// Folds push actions into per (user, room, thread) unread counts
// (event_push_summary, migrations/0019_push_summary.sql), so a sync counts
// only the rows since the last rotation instead of everything its user has
// not read. Runs in a push worker; any number may run, the position row
// lets one at a time through.
import type { Logger } from "../observability/logger.ts";
import type { Database } from "../storage/database.ts";
import { currentStreamPosition } from "../storage/events.ts";
import { rotatePushActions } from "../storage/push-actions.ts";

export interface PushRotation {
  /** Rotates up to the current stream head; returns the range done (empty when another rotation held the row). */
  run(): Promise<{ from: number; to: number }>;
}

export function createPushRotation(deps: { db: Database; log: Logger }): PushRotation {
  return {
    async run() {
      const started = performance.now();
      const result = await deps.db.transaction(async (tx) => rotatePushActions(tx, await currentStreamPosition(tx)));
      if (result.to > result.from) deps.log.debug({ from: result.from, to: result.to, ms: Math.round(performance.now() - started) }, "push actions rotated");
      return { from: result.from, to: result.to };
    },
  };
}
