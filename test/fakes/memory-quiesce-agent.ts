/**
 * QuiesceAgent (lambdas/core/plans/plan-ports.ts) in memory, as TagQuiesceAgent talks to the
 * replication agent: a request is a `Quiesce Requested` / `Release Requested` event (source
 * `rbp.plans`) naming the server's replica volumes, and the agent's answers are tags on those
 * volumes (`rbp:quiesced`, `rbp:quiesce-confirmed`, `rbp:release-confirmed`), read back here.
 */
import {
  QUIESCE_CONFIRMED_TAG,
  QUIESCE_EVENT_VERSION,
  QUIESCE_REQUESTED,
  QUIESCED_TAG,
  RELEASE_CONFIRMED_TAG,
  RELEASE_REQUESTED,
} from '../../lambdas/aws/plan-run-adapters.ts';
import type { Clock } from '../../lambdas/core/ports.ts';
import type { QuiesceAgent, QuiesceRequest } from '../../lambdas/core/plans/plan-ports.ts';
import type { BusEvent } from './memory-event-bus.ts';
import type { MemoryEc2Volumes } from './memory-ec2-volumes.ts';

export class MemoryQuiesceAgent implements QuiesceAgent {
  /** The requests sent, as events on the bus. */
  readonly events: BusEvent[] = [];

  constructor(
    private readonly volumes: MemoryEc2Volumes,
    private readonly clock: Clock,
  ) {}

  async quiescedApplications(server: string): Promise<readonly string[]> {
    const names = ((await this.volumes.get(server))?.volumes ?? []).flatMap((v) =>
      (v.tags[QUIESCED_TAG] ?? '').split(',').map((name) => name.trim()),
    );
    return [...new Set(names.filter((name) => name !== ''))];
  }

  readonly requestQuiesce = (request: QuiesceRequest): Promise<void> => this.send(QUIESCE_REQUESTED, request);
  readonly requestRelease = (request: QuiesceRequest): Promise<void> => this.send(RELEASE_REQUESTED, request);
  readonly isQuiesced = (requestId: string): Promise<boolean> =>
    this.confirmed(QUIESCE_CONFIRMED_TAG, requestId);
  readonly isReleased = (requestId: string): Promise<boolean> =>
    this.confirmed(RELEASE_CONFIRMED_TAG, requestId);

  private async confirmed(tag: string, requestId: string): Promise<boolean> {
    const servers = await this.volumes.list();
    return servers.some((server) => server.volumes.some((v) => v.tags[tag] === requestId));
  }

  private async send(detailType: string, request: QuiesceRequest): Promise<void> {
    const { requestId, server: serverId, application, timeoutSeconds } = request;
    const volumeIds = ((await this.volumes.get(serverId))?.volumes ?? []).map((v) => v.volumeId);
    const requestedAt = this.clock.now().toISOString();
    const named = application === undefined ? {} : { application };
    const detail = {
      version: QUIESCE_EVENT_VERSION,
      requestId,
      serverId,
      ...named,
      volumeIds,
      timeoutSeconds,
      requestedAt,
    };
    this.events.push({ source: 'rbp.plans', detailType, detail });
  }
}
