// What we serve media as. The uploader's Content-Type is never trusted for a
// serving decision: the type comes from the bytes (file-type), and only a
// short list of types is shown inline (Synapse's INLINE_CONTENT_TYPES);
// everything else is an attachment, under a sandboxing CSP.
import { fileTypeFromBuffer } from "file-type";

/** Types a browser may show inline (as Synapse's list): no HTML, SVG or script. */
export const INLINE_CONTENT_TYPES: ReadonlySet<string> = new Set([
  "text/css",
  "text/plain",
  "text/csv",
  "application/json",
  "application/ld+json",
  "image/jpeg",
  "image/gif",
  "image/png",
  "image/apng",
  "image/webp",
  "image/avif",
  "video/mp4",
  "video/webm",
  "video/ogg",
  "video/quicktime",
  "audio/mp4",
  "audio/webm",
  "audio/aac",
  "audio/mpeg",
  "audio/ogg",
  "audio/wave",
  "audio/wav",
  "audio/x-wav",
  "audio/x-pn-wav",
  "audio/flac",
  "audio/x-flac",
]);

/** Types the thumbnail worker renders (sniffed, never declared). */
export const THUMBNAILABLE_TYPES: readonly string[] = ["image/jpeg", "image/png", "image/gif", "image/webp"];
export const ANIMATABLE_TYPES: ReadonlySet<string> = new Set(["image/gif", "image/webp"]);

/** Synapse's Content-Security-Policy for served media. */
export const MEDIA_CSP = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';";

export async function sniffContentType(head: Buffer): Promise<string | null> {
  if (head.length === 0) return null;
  const found = await fileTypeFromBuffer(head).catch(() => undefined);
  return found?.mime ?? null;
}

/** The declared type without parameters, lower-case; null when absent or malformed. */
export function normaliseDeclared(value: string | undefined): string | null {
  if (!value) return null;
  const bare = value.split(";")[0]!.trim().toLowerCase();
  return /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(bare) ? bare : null;
}

/**
 * The Content-Type we serve. The sniffed type wins. Without one the declared
 * type is kept only when it names a format without magic bytes (text, JSON):
 * a declared image/video/audio/HTML type that the bytes do not bear out is
 * served as application/octet-stream.
 */
export function servedContentType(sniffed: string | null, declared: string | null): string {
  if (sniffed) return sniffed;
  if (!declared) return "application/octet-stream";
  if (/^(image|video|audio)\//.test(declared)) return "application/octet-stream";
  if (declared.startsWith("text/")) return declared === "text/plain" || declared === "text/csv" || declared === "text/css" ? `${declared}; charset=utf-8` : "text/plain; charset=utf-8";
  return declared === "application/json" || declared === "application/ld+json" ? declared : "application/octet-stream";
}

export function isInline(servedType: string): boolean {
  return INLINE_CONTENT_TYPES.has(servedType.split(";")[0]!.trim());
}

/** RFC 6266 Content-Disposition: a quoted ASCII filename when it is plain, else filename*=utf-8''<RFC 5987>. */
export function contentDisposition(inline: boolean, filename: string | null): string {
  const kind = inline ? "inline" : "attachment";
  if (!filename) return kind;
  if (/^[\x20-\x7e]*$/.test(filename) && !/["\\%]/.test(filename)) return `${kind}; filename="${filename}"`;
  const encoded = encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${kind}; filename*=utf-8''${encoded}`;
}

/** The filename of a Content-Disposition header (both forms), for remote media. */
export function filenameFromDisposition(header: string | undefined): string | null {
  if (!header) return null;
  const star = /filename\*\s*=\s*utf-8''([^;]+)/i.exec(header);
  if (star) {
    try {
      return decodeURIComponent(star[1]!.trim());
    } catch {
      return null;
    }
  }
  const plain = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(header);
  if (!plain) return null;
  return (plain[1] ?? plain[2] ?? "").replace(/\\(.)/g, "$1") || null;
}

/** Every header a media response carries besides its type and length. */
export function mediaSecurityHeaders(servedType: string, filename: string | null, forceInline = false): Record<string, string> {
  return {
    "Content-Disposition": contentDisposition(forceInline || isInline(servedType), filename),
    "Content-Security-Policy": MEDIA_CSP,
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "cross-origin",
  };
}
