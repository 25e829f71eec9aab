/**
 * In-memory NamedRecordStore with the semantics the DynamoDB adapter has (conditional create,
 * replace and delete on the revision, the same messages), for plans, workflows and their tests.
 */
import { ConflictError, NotFoundError } from '../../lambdas/core/errors.ts';
import {
  namedRecordMessages,
  type NamedRecord,
  type NamedRecordStore,
} from '../../lambdas/core/store/named-records.ts';

export class MemoryNamedRecords<R extends NamedRecord> implements NamedRecordStore<R> {
  readonly records = new Map<string, R>();

  constructor(private readonly kind: string) {}

  create(record: R): Promise<void> {
    if (this.records.has(record.name)) {
      return Promise.reject(new ConflictError(namedRecordMessages.exists(this.kind, record.name)));
    }
    this.records.set(record.name, structuredClone(record));
    return Promise.resolve();
  }

  get(name: string): Promise<R | undefined> {
    const record = this.records.get(name);
    return Promise.resolve(record === undefined ? undefined : structuredClone(record));
  }

  list(): Promise<readonly R[]> {
    return Promise.resolve(
      [...this.records.values()]
        .sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)))
        .map((r) => structuredClone(r)),
    );
  }

  replace(record: R, expectedRevision: number): Promise<void> {
    const current = this.records.get(record.name);
    if (current === undefined) {
      return Promise.reject(new NotFoundError(namedRecordMessages.absent(this.kind, record.name)));
    }
    if (current.revision !== expectedRevision) {
      return Promise.reject(
        new ConflictError(namedRecordMessages.changed(this.kind, record.name, current.revision)),
      );
    }
    this.records.set(record.name, structuredClone(record));
    return Promise.resolve();
  }

  delete(name: string, expectedRevision: number): Promise<void> {
    const current = this.records.get(name);
    if (current === undefined) return Promise.resolve();
    if (current.revision !== expectedRevision) {
      return Promise.reject(
        new ConflictError(namedRecordMessages.changed(this.kind, name, current.revision)),
      );
    }
    this.records.delete(name);
    return Promise.resolve();
  }
}
