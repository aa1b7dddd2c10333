// Operator commands against the same configuration, PostgreSQL and services
// as the server:
//
//   npm run admin -- [--config PATH] <command words> [options]
//   npm run admin -- --help
//
// Commands live one per file in admin-cli/commands/ and are listed in
// COMMANDS. Exit codes as the server's: 2 for usage and configuration, 3 for
// an unreachable service, 1 for a command that failed.
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { ConfigError } from "../server/config/config-error.ts";
import { loadConfig } from "../server/config/load.ts";
import { createLogger } from "../server/observability/logger.ts";
import { resolveDatabase } from "../server/storage/connect.ts";
import { createDatabase } from "../server/storage/database.ts";
import { migrateToLatest } from "../server/storage/migrate.ts";
import type { AdminCommand } from "./command.ts";
import { searchReindex } from "./commands/search-reindex.ts";

export const COMMANDS: readonly AdminCommand[] = [searchReindex];

function usage(): string {
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(18)} ${c.summary}\n      ${c.usage}`);
  return `usage: npm run admin -- [--config PATH] <command> [options]\n  --config PATH      configuration file (default: ./homeserver.yaml, or $MYELIN_CONFIG)\ncommands:\n${lines.join("\n")}`;
}

function fail(message: string, code: number): never {
  process.stderr.write(`myelin-admin: ${message}\n`);
  process.exit(code);
}

/** The command whose name words start `words`, and the rest of the arguments. */
export function findCommand(words: readonly string[]): { command: AdminCommand; rest: string[] } | undefined {
  for (const command of COMMANDS) {
    const name = command.name.split(" ");
    if (name.every((w, i) => words[i] === w)) return { command, rest: words.slice(name.length) };
  }
  return undefined;
}

async function main(argv: string[]): Promise<void> {
  // Global options come before the command words.
  const { values, positionals } = parseArgs({ args: argv, options: { config: { type: "string" }, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: false });
  const found = findCommand(positionals);
  if (values.help && !found) {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  if (!found) fail(`${positionals.length > 0 ? `unknown command "${positionals.join(" ")}"` : "no command given"}\n${usage()}`, 2);
  const { command } = found;
  let options: Record<string, string | boolean | undefined>;
  try {
    const commandArgs = argv.filter((a, i) => !(a === "--config" || argv[i - 1] === "--config" || a.startsWith("--config=")));
    options = parseArgs({ args: commandArgs, options: { ...command.options, help: { type: "boolean", short: "h" } }, allowPositionals: true }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    fail(`${(err as Error).message}\nusage: npm run admin -- ${command.usage}`, 2);
  }
  if (options.help) {
    process.stdout.write(`${command.name}: ${command.summary}\nusage: npm run admin -- ${command.usage}\n`);
    return;
  }
  const config = loadConfig(resolve(typeof values.config === "string" ? values.config : (process.env.MYELIN_CONFIG ?? "homeserver.yaml")));
  const log = createLogger({ level: "warn", format: "json", destination: process.stderr });
  const database = await resolveDatabase({
    configuredUrl: config.database.url,
    embeddedDataDir: config.database.embedded_data_dir,
    embeddedPort: config.database.embedded_port,
    log: (message) => log.info(message),
  });
  await migrateToLatest(database.url);
  const db = createDatabase(database.url, { max: 2, applicationName: "myelin-admin" });
  try {
    await command.run({ config, db, log, out: process.stdout, err: process.stderr }, options);
  } finally {
    await db.close();
    await database.stop?.();
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    if (err instanceof ConfigError) fail(err.message, err.exitCode);
    fail(`failed: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`, 1);
  },
);
