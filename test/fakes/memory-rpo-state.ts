/**
 * The RPO check's breach records in memory (RpoStateStore, lambdas/core/plans/rpo.ts): one record
 * per server, listed in the order DynamoDB's Query gives them (the server names' UTF-8 byte order).
 */
import type { RpoBreachRecord, RpoStateStore } from '../../lambdas/core/plans/rpo.ts';

export class MemoryRpoStateStore implements RpoStateStore {
  private readonly records = new Map<string, RpoBreachRecord>();

  list(): Promise<readonly RpoBreachRecord[]> {
    const bytes = (s: string) => Buffer.from(s, 'utf8');
    return Promise.resolve(
      [...this.records.values()].sort((a, b) => Buffer.compare(bytes(a.server), bytes(b.server))),
    );
  }

  put(record: RpoBreachRecord): Promise<void> {
    this.records.set(record.server, { ...record });
    return Promise.resolve();
  }

  delete(server: string): Promise<void> {
    this.records.delete(server);
    return Promise.resolve();
  }
}
