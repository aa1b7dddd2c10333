// OpenGraph from an HTML page: <meta property="og:*" content> (and name=),
// with <title> and the description meta as fallbacks, as Synapse's previews
// do. A tolerant scan of tags, not a DOM: only meta and title are read.

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" };

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, name: string) => {
    if (name[0] === "#") {
      const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  const pattern = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/g;
  for (let m = pattern.exec(tag); m; m = pattern.exec(tag)) out[m[1]!.toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? "");
  return out;
}

const MAX_VALUE_CHARS = 1000;

export function parseOpenGraph(html: string): Record<string, string> {
  const og: Record<string, string> = {};
  let description: string | undefined;
  for (const match of html.matchAll(/<meta\b[^>]*>/gi)) {
    const attrs = attributes(match[0]);
    const key = attrs.property ?? attrs.name;
    const content = attrs.content;
    if (!key || content === undefined) continue;
    if (key.startsWith("og:") && !(key in og)) og[key] = content.slice(0, MAX_VALUE_CHARS);
    if (key.toLowerCase() === "description" && description === undefined) description = content.slice(0, MAX_VALUE_CHARS);
  }
  if (!og["og:title"]) {
    const title = /<title\b[^>]*>([\s\S]*?)<\/title>/i.exec(html);
    if (title) og["og:title"] = decodeEntities(title[1]!.trim()).slice(0, MAX_VALUE_CHARS);
  }
  if (!og["og:description"] && description !== undefined) og["og:description"] = description;
  return og;
}
