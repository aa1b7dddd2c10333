// Progress of a long command on stderr: a bar redrawn in place on a
// terminal, plain lines (at most one per 5 s, and the last) otherwise, so
// logs of a piped or scheduled run stay readable.
export interface Progress {
  update(done: number, total: number): void;
  finish(): void;
}

const WIDTH = 30;

export function createProgress(stream: NodeJS.WriteStream, label: string, clock: () => number = Date.now): Progress {
  const started = clock();
  let lastLine = 0;
  let last = { done: 0, total: 0 };
  const describe = (done: number, total: number) => {
    const seconds = Math.max((clock() - started) / 1000, 0.001);
    const rate = done / seconds;
    const eta = rate > 0 && total > done ? ` ETA ${Math.ceil((total - done) / rate)}s` : "";
    const percent = total > 0 ? Math.floor((done / total) * 100) : 100;
    return { percent, text: `${done}/${total} (${percent}%) ${Math.round(rate)}/s${eta}` };
  };
  return {
    update(done, total) {
      last = { done, total };
      const { percent, text } = describe(done, total);
      if (stream.isTTY) {
        const filled = Math.round((percent / 100) * WIDTH);
        stream.write(`\r${label} [${"#".repeat(filled)}${".".repeat(WIDTH - filled)}] ${text}\u001b[K`);
      } else if (clock() - lastLine >= 5000) {
        lastLine = clock();
        stream.write(`${label}: ${text}\n`);
      }
    },
    finish() {
      const { text } = describe(last.done, last.total);
      stream.write(stream.isTTY ? `\r${label} [${"#".repeat(WIDTH)}] ${text}\u001b[K\n` : `${label}: ${text}, done\n`);
    },
  };
}
