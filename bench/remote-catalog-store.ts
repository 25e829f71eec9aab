/**
 * The in-memory catalog store in a child process of its own, reached over IPC: what DynamoDB is to
 * a catalog Lambda, a store that is not on the heap of the process that builds the catalog. A
 * benchmark that kept a 108,000-item catalog on its own heap would time the garbage collector
 * marking that store (a full mark-compact of ~300 MB per large incremental), which a Lambda never
 * pays. Every call is one message each way (structured clone, so Maps and typed arrays pass); the
 * store counts its requests as before (MemoryCatalogStore.requests).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CatalogStore } from '../lambdas/core/catalog/catalog-store.ts';
import { MemoryCatalogStore } from '../test/catalog/memory-catalog-store.ts';

/** Set in the child's environment: this module then serves a store instead of exporting one. */
const CHILD_ENV = 'RBP_BENCH_CATALOG_STORE_CHILD';

type Method = keyof CatalogStore;

interface Call {
  readonly id: number;
  readonly method: Method | 'requests';
  readonly args: readonly unknown[];
}

interface Answer {
  readonly id: number;
  readonly result?: unknown;
  readonly error?: string;
}

const METHODS: readonly Method[] = [
  'queryDirectory',
  'queryName',
  'searchNames',
  'putItems',
  'putImageCatalog',
  'getImageCatalog',
  'latestImageCatalogBefore',
  'putApplications',
  'listApplications',
  'putTreePages',
  'getTreePages',
];

export interface RemoteCatalogStore {
  /** The store's interface; every call runs in the child. */
  readonly store: CatalogStore;
  /** MemoryCatalogStore.requests of the child's store. */
  requests(): Promise<number>;
  close(): Promise<void>;
}

/** Starts a child process holding an empty MemoryCatalogStore. */
export function remoteCatalogStore(): RemoteCatalogStore {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ['--import', import.meta.resolve('tsx')],
    env: { ...process.env, [CHILD_ENV]: '1' },
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let next = 0;
  child.on('message', (message: Answer) => {
    const call = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.error === undefined) call?.resolve(message.result);
    else call?.reject(new Error(`remote catalog store: ${message.error}`));
  });
  child.once('exit', (code) => {
    for (const call of waiting.values()) call.reject(new Error(`remote catalog store exited with ${code}`));
    waiting.clear();
  });
  const send = (method: Call['method'], args: readonly unknown[]): Promise<unknown> =>
    new Promise((resolve, reject) => {
      next += 1;
      waiting.set(next, { resolve, reject });
      child.send({ id: next, method, args } satisfies Call);
    });
  const store = Object.fromEntries(
    METHODS.map((method) => [method, (...args: unknown[]) => send(method, args)]),
  ) as unknown as CatalogStore;
  return {
    store,
    requests: async () => (await send('requests', [])) as number,
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.disconnect();
      await exited;
    },
  };
}

async function answer(store: MemoryCatalogStore, call: Call): Promise<Answer> {
  try {
    if (call.method === 'requests') return { id: call.id, result: store.requests };
    const method = store[call.method] as (...args: unknown[]) => Promise<unknown>;
    return { id: call.id, result: await method.apply(store, [...call.args]) };
  } catch (error) {
    return { id: call.id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}

if (process.env[CHILD_ENV] === '1') {
  const store = new MemoryCatalogStore();
  process.on('message', (call: Call) => {
    void answer(store, call).then((reply) => process.send!(reply));
  });
  process.on('disconnect', () => process.exit(0));
}
