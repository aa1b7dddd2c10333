// Local room aliases (migrations/0002_rooms_events.sql, room_aliases).
import type { Queryable } from "./database.ts";

/** False when the alias is taken. */
export async function insertAlias(q: Queryable, alias: string, roomId: string, creator: string): Promise<boolean> {
  const res = await q.query(`INSERT INTO room_aliases (room_alias, room_id, creator) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [alias, roomId, creator]);
  return res.rowCount === 1;
}

export async function getAlias(q: Queryable, alias: string): Promise<{ roomId: string; creator: string } | undefined> {
  const { rows } = await q.query<{ room_id: string; creator: string }>(`SELECT room_id, creator FROM room_aliases WHERE room_alias = $1`, [alias]);
  return rows[0] && { roomId: rows[0].room_id, creator: rows[0].creator };
}

export async function deleteAlias(q: Queryable, alias: string): Promise<void> {
  await q.query(`DELETE FROM room_aliases WHERE room_alias = $1`, [alias]);
}

export async function aliasesOfRoom(q: Queryable, roomId: string): Promise<string[]> {
  const { rows } = await q.query<{ room_alias: string }>(`SELECT room_alias FROM room_aliases WHERE room_id = $1 ORDER BY room_alias`, [roomId]);
  return rows.map((r) => r.room_alias);
}

/** Points every alias of `fromRoomId` at `toRoomId` (room upgrades). */
export async function moveAliases(q: Queryable, fromRoomId: string, toRoomId: string): Promise<void> {
  await q.query(`UPDATE room_aliases SET room_id = $2 WHERE room_id = $1`, [fromRoomId, toRoomId]);
}
