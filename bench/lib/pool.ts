// Bounded concurrency for setup work (registrations, joins, seeding).

export { mapLimit } from "../../server/lib/map-limit.ts";

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));
