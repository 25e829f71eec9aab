/**
 * A store of named, revisioned records: the shape shared by protection plans and workflows (and
 * whatever operator-managed resource comes next). Every write is conditional on the revision the
 * writer read, so two operators editing the same record at once never overwrite each other
 * silently: the second gets a ConflictError naming the revision now stored.
 */

/** What a record needs to live in a NamedRecordStore. */
export interface NamedRecord {
  readonly name: string;
  /** 1 on create, +1 on every change; writes are conditional on it. */
  readonly revision: number;
}

export interface NamedRecordStore<R extends NamedRecord> {
  /** ConflictError when a record with the name exists. */
  create(record: R): Promise<void>;
  get(name: string): Promise<R | undefined>;
  /** Every record, ordered by name. */
  list(): Promise<readonly R[]>;
  /** ConflictError when the stored revision is not `expectedRevision`; NotFoundError when absent. */
  replace(record: R, expectedRevision: number): Promise<void>;
  /** ConflictError when the stored revision is not `expectedRevision`; absent is success. */
  delete(name: string, expectedRevision: number): Promise<void>;
}

/** The messages every NamedRecordStore gives, so that fakes and adapters agree word for word. */
export const namedRecordMessages = {
  exists: (kind: string, name: string): string => `${kind} ${name} already exists`,
  absent: (kind: string, name: string): string => `${kind} ${name} does not exist`,
  changed: (kind: string, name: string, revision: number): string =>
    `${kind} ${name} changed meanwhile (revision ${revision})`,
} as const;
