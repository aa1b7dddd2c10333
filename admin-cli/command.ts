// What an admin-cli command is: a name of one or more words ("search
// reindex"), a one-line summary for --help, its options (node:util
// parseArgs), and `run`, which gets the parsed options and an opened
// context. One command per file under admin-cli/commands/.
import type { ParseArgsConfig } from "node:util";
import type { HomeserverConfig } from "../server/config/schema.ts";
import type { Logger } from "../server/observability/logger.ts";
import type { Database } from "../server/storage/database.ts";

export interface CommandContext {
  config: HomeserverConfig;
  db: Database;
  log: Logger;
  /** Where results go (stdout); progress and messages go to stderr. */
  out: NodeJS.WritableStream;
  err: NodeJS.WriteStream;
}

export interface AdminCommand {
  name: string;
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  run(context: CommandContext, options: Record<string, string | boolean | undefined>): Promise<void>;
}
