/**
 * `rbp local serve` runs the product's Lambda handlers in its own process; their Powertools logs
 * and EMF metric lines (one JSON line per call, hundreds per backup) and any warnings go to
 * process.stdout/stderr. This sends both streams to a log file in the state directory (and, when
 * verbose, to the terminal too) and hands back writers for the few lines serve itself prints.
 *
 * Powertools' Logger and Metrics write through a Console built on process.stdout/stderr, and
 * Node's Console calls the stream's write() on each line, so replacing write() on the two stream
 * objects reaches them (https://nodejs.org/api/console.html#new-consoleoptions).
 */
import { createWriteStream, type WriteStream } from 'node:fs';

export interface ProcessLog {
  /** Writes to the terminal's stdout (the READY lines), never to the log file. */
  readonly out: (text: string) => void;
  /** Writes to the terminal's stderr and to the log file. */
  readonly err: (text: string) => void;
  readonly path: string;
  /** Puts the original writers back and closes the file. */
  close(): Promise<void>;
}

type Write = (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;

/** The stream's write() as it is now (bound), so that it still reaches the terminal once replaced. */
function writerOf(stream: NodeJS.WriteStream): Write {
  const original = stream.write.bind(stream) as (c: string | Uint8Array, ...r: unknown[]) => boolean;
  return (chunk, ...rest) => original(chunk, ...rest);
}

export function redirectProcessOutput(path: string, options: { readonly verbose: boolean }): ProcessLog {
  const file: WriteStream = createWriteStream(path, { flags: 'a' });
  const saved = {
    stdout: Object.getOwnPropertyDescriptor(process.stdout, 'write'),
    stderr: Object.getOwnPropertyDescriptor(process.stderr, 'write'),
  };
  const stdoutWrite = writerOf(process.stdout);
  const stderrWrite = writerOf(process.stderr);

  const toFile =
    (terminal: Write): Write =>
    (chunk, ...rest) => {
      file.write(chunk);
      if (options.verbose) return terminal(chunk, ...rest);
      const callback = rest.find((value) => typeof value === 'function') as (() => void) | undefined;
      if (callback) queueMicrotask(callback);
      return true;
    };

  Object.defineProperty(process.stdout, 'write', {
    value: toFile(stdoutWrite),
    configurable: true,
    writable: true,
  });
  Object.defineProperty(process.stderr, 'write', {
    value: toFile(stderrWrite),
    configurable: true,
    writable: true,
  });
  return {
    path,
    out: (text) => {
      stdoutWrite(text);
    },
    err: (text) => {
      file.write(text);
      stderrWrite(text);
    },
    close: () =>
      new Promise<void>((resolve) => {
        restore(process.stdout, saved.stdout);
        restore(process.stderr, saved.stderr);
        file.end(() => resolve());
      }),
  };
}

/** Puts back the stream's own `write` property, or removes ours so the prototype's shows again. */
function restore(stream: NodeJS.WriteStream, descriptor: PropertyDescriptor | undefined): void {
  if (descriptor === undefined) Reflect.deleteProperty(stream, 'write');
  else Object.defineProperty(stream, 'write', descriptor);
}
