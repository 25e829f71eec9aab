/**
 * In-memory implementations of the plan-run ports, with one shared call log so that tests can
 * assert the exact order in which the engine talks to the outside, and a settable clock.
 */
import type {
  BackupProgress,
  BackupStart,
  DestinationUsage,
  HookPayload,
  PlanRunPorts,
  QuiesceRequest,
} from '../../lambdas/core/plans/plan-ports.ts';
import type { ServerView } from '../../lambdas/core/plans/servers.ts';
import { DEFAULT_SETTINGS, type PlanSettings } from '../../lambdas/core/plans/settings.ts';

export class FakeClock {
  constructor(private current: Date) {}
  now(): Date {
    return new Date(this.current.getTime());
  }
  set(iso: string): void {
    this.current = new Date(iso);
  }
  advance(seconds: number): void {
    this.current = new Date(this.current.getTime() + seconds * 1000);
  }
}

export type HookBehaviour = (payload: HookPayload) => unknown;

/** How a fake backup ends: after `polls` progress calls, with this outcome. */
export type BackupScript = { polls: number; outcome: BackupProgress };

/** Each server as a row of the given fields, `volumes` as the volumes' ids: a table a test compares whole. */
export function serverRows(
  servers: readonly ServerView[],
  fields: readonly (keyof ServerView)[],
): unknown[][] {
  return servers.map((s) =>
    fields.map((field) => (field === 'volumes' ? s.volumes.map((v) => v.volumeId) : s[field])),
  );
}

export function server(name: string, overrides: Partial<ServerView> = {}): ServerView {
  return {
    name,
    replication: 'in-sync',
    lagSeconds: 0,
    volumes: [{ volumeId: `vol-${name.toLowerCase()}`, tags: { 'rbp:source-server': name } }],
    applications: [],
    hasPrimary: false,
    ...overrides,
  };
}

export class FakePlanWorld {
  readonly log: string[] = [];
  readonly clock: FakeClock;
  settings: PlanSettings = DEFAULT_SETTINGS;
  probeProblem: string | undefined = undefined;
  usage: DestinationUsage = { storedBytes: 0, freeSnapshotSlots: 100 };
  servers: ServerView[] = [];
  readonly hooks = new Map<string, HookBehaviour>();
  readonly hookPayloads: HookPayload[] = [];
  /** Applications already quiesced by someone else, per server. */
  readonly quiescedElsewhere = new Map<string, string[]>();
  /** Request ids the agent confirms right away (default: every one). */
  confirmQuiesce: (request: QuiesceRequest) => boolean = () => true;
  confirmRelease: (request: QuiesceRequest) => boolean = () => true;
  private readonly quiesceRequests = new Map<string, QuiesceRequest>();
  private readonly releaseRequests = new Map<string, QuiesceRequest>();
  /** Per backup id: how it ends; default one poll then success with one image. */
  backupScript: (start: BackupStart) => BackupScript = (start) => ({
    polls: 1,
    outcome: { state: 'succeeded', imageIds: [`img-${start.backupId}`] },
  });
  readonly backupsStarted: BackupStart[] = [];
  private readonly backupPolls = new Map<string, { script: BackupScript; polls: number }>();

  constructor(start: string) {
    this.clock = new FakeClock(new Date(start));
  }

  ports(): PlanRunPorts {
    return {
      clock: this.clock,
      settings: {
        read: () => {
          this.log.push('settings.read');
          return Promise.resolve(this.settings);
        },
      },
      destination: {
        probeWritable: () => {
          this.log.push('destination.probe');
          return Promise.resolve(this.probeProblem);
        },
        usage: () => {
          this.log.push('destination.usage');
          return Promise.resolve(this.usage);
        },
      },
      servers: {
        list: () => {
          this.log.push('servers.list');
          return Promise.resolve(this.servers);
        },
        get: (name) => {
          this.log.push(`servers.get ${name}`);
          return Promise.resolve(this.servers.find((s) => s.name === name));
        },
      },
      hooks: {
        invoke: (functionName, payload, timeoutSeconds) => {
          this.log.push(
            `hook ${payload.phase} ${functionName} ${timeoutSeconds}s${payload.task ? ` t${payload.task.index}` : ''}`,
          );
          this.hookPayloads.push(payload);
          const behaviour = this.hooks.get(functionName);
          if (behaviour === undefined) return Promise.reject(new Error(`no function ${functionName}`));
          try {
            return Promise.resolve(behaviour(payload));
          } catch (error) {
            return Promise.reject(error instanceof Error ? error : new Error(String(error)));
          }
        },
      },
      quiesce: {
        quiescedApplications: (name) => {
          this.log.push(`quiesce.check ${name}`);
          return Promise.resolve(this.quiescedElsewhere.get(name) ?? []);
        },
        requestQuiesce: (request) => {
          this.log.push(
            `quiesce.request ${request.requestId} ${request.server}/${request.application ?? '*'}`,
          );
          this.quiesceRequests.set(request.requestId, request);
          return Promise.resolve();
        },
        isQuiesced: (requestId) => {
          const request = this.quiesceRequests.get(requestId);
          return Promise.resolve(request !== undefined && this.confirmQuiesce(request));
        },
        requestRelease: (request) => {
          this.log.push(`quiesce.release ${request.requestId}`);
          this.releaseRequests.set(request.requestId, request);
          return Promise.resolve();
        },
        isReleased: (requestId) => {
          const request = this.releaseRequests.get(requestId);
          return Promise.resolve(request !== undefined && this.confirmRelease(request));
        },
      },
      backups: {
        start: (start) => {
          this.log.push(
            `backup.start ${start.backupId} ${start.server}/${start.application ?? '*'} ${start.source}`,
          );
          if (!this.backupPolls.has(start.backupId)) {
            this.backupsStarted.push(start);
            this.backupPolls.set(start.backupId, { script: this.backupScript(start), polls: 0 });
          }
          return Promise.resolve();
        },
        progress: (backupId) => {
          const entry = this.backupPolls.get(backupId);
          if (entry === undefined) return Promise.reject(new Error(`no backup ${backupId}`));
          entry.polls += 1;
          return Promise.resolve(
            entry.polls >= entry.script.polls ? entry.script.outcome : { state: 'running' },
          );
        },
      },
    };
  }

  /** The log without the repetitive reads, for order assertions. */
  actions(): string[] {
    return this.log.filter((line) => !line.startsWith('servers.get'));
  }
}
