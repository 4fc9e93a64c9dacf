/**
 * Calls `fn` with each complete line a child process writes to `stream` (UTF-8, without
 * the newline); a last line without a newline is never delivered. Used wherever the
 * coordinator is run as a child process and read by its JSON log lines.
 */
export function forEachLine(stream: NodeJS.ReadableStream, fn: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      fn(line);
    }
  });
}
