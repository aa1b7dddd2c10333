// Operator actions on media, for the admin API and admin-cli to call:
// quarantine (served as 404 everywhere, kept on disk as evidence) by media ID
// or of every upload of a user, and deletion by media ID (the file goes when
// no other media ID shares its content).
import type { Database } from "../storage/database.ts";
import { quarantineLocalMedia, quarantineMediaOfUser, quarantineRemoteMedia } from "../storage/media.ts";
import type { MediaRepository } from "./media-repository.ts";

export interface MediaAdminDeps {
  db: Database;
  serverName: string;
  repository: Pick<MediaRepository, "deleteMedia">;
}

export function createMediaAdmin(deps: MediaAdminDeps) {
  const { db, serverName } = deps;
  return {
    /** Quarantines mxc://origin/mediaId; returns how many rows changed (0: unknown media). */
    async quarantineMedia(origin: string, mediaId: string, by: string): Promise<number> {
      return origin === serverName ? quarantineLocalMedia(db, mediaId, by) : quarantineRemoteMedia(db, origin, mediaId, by);
    },
    async unquarantineMedia(origin: string, mediaId: string): Promise<number> {
      return origin === serverName ? quarantineLocalMedia(db, mediaId, null) : quarantineRemoteMedia(db, origin, mediaId, null);
    },
    /** Quarantines every upload of a local user. */
    async quarantineUserMedia(userId: string, by: string): Promise<number> {
      return quarantineMediaOfUser(db, userId, by);
    },
    deleteMedia(origin: string, mediaId: string): Promise<{ existed: boolean; filesDeleted: number }> {
      return deps.repository.deleteMedia(origin, mediaId);
    },
  };
}
