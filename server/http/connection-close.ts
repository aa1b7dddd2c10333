// Closing a connection whose request we refused before reading all of it
// (a body over the limit, a header overflow, a timeout) without losing the
// answer. Destroying a socket that still has unread input makes the kernel
// send a reset instead of a FIN, and a client that is still writing then
// sees ECONNRESET rather than our status line (RFC 9112 §9.6). So: send the
// answer, half-close, give the client a moment to read it, then destroy.
import type { ServerResponse } from "node:http";
import type { Duplex } from "node:stream";

/** How long a refused client gets to read the answer before the socket is destroyed. */
export const LINGER_MS = 2000;

const lingering = new WeakSet<Duplex>();

/** Ends our side now and destroys the socket after LINGER_MS (or when the client closes first). */
export function lingeringClose(socket: Duplex): void {
  if (lingering.has(socket)) return;
  lingering.add(socket);
  if (socket.writable) socket.end();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once("close", () => clearTimeout(timer));
}

/**
 * Marks the response as the last on its connection (`Connection: close`) and
 * replaces Node's close-after-answer, which destroys the socket as soon as the
 * answer is flushed, with a lingering close.
 */
export function closeAfterResponse(res: ServerResponse): void {
  if (!res.headersSent) res.setHeader("Connection", "close");
  const socket = res.socket;
  if (!socket) return;
  socket.destroySoon = () => lingeringClose(socket);
}
