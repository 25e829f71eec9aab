/** A stand-alone HTTP server for the EBS emulator, for tests and benches that need only EBS. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EbsEmulator, type EbsEmulatorOptions } from './ebs-emulator.ts';

export interface EbsEmulatorServer {
  /** `http://127.0.0.1:<port>`: the `endpoint` of an EBSClient. */
  readonly endpoint: string;
  readonly emulator: EbsEmulator;
  /** Closes the listener and every open connection (SDK clients keep theirs alive). */
  stop(): Promise<void>;
}

export async function startEbsEmulatorServer(
  options: EbsEmulatorOptions & { port?: number },
): Promise<EbsEmulatorServer> {
  const emulator = await EbsEmulator.open(options);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    // A client that goes away mid-body must not take the server down.
    req.on('error', () => res.destroy());
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      emulator.handle(req, res, Buffer.concat(chunks)).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    emulator,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
