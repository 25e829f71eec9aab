/** A client of the gateway's /_local/ admin API, for the CLI and for processes outside the gateway. */
import type { ReplicaRecord } from '../replica/replica-registry.ts';
import type { AgentSettings } from '../replica/replica-simulator.ts';
import type { SyncState } from '../replica/replica-tags.ts';
import type { ReplicationState } from '../../lambdas/core/plans/servers.ts';
import type { CommandFunction } from './command-functions.ts';
import type { FaultConfig } from './faults.ts';
import type { GatewayStats } from './local-gateway.ts';

export class LocalAdminError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
    this.name = 'LocalAdminError';
  }
}

export interface GatewayHealth {
  readonly status: 'ok' | 'starting';
  readonly endpoint: string;
  readonly motoEndpoint: string | null;
  readonly motoPid: number | null;
  readonly functions: string[];
}

export class LocalAdminClient {
  private readonly base: string;

  constructor(endpoint: string) {
    this.base = endpoint.replace(/\/+$/, '');
  }

  health(): Promise<GatewayHealth> {
    return this.call('GET', '/_local/health');
  }

  createReplica(options: { imagePath: string; serverId?: string; device?: string }): Promise<ReplicaRecord> {
    return this.call('POST', '/_local/replicas', options);
  }

  async listReplicas(): Promise<ReplicaRecord[]> {
    return (await this.call<{ replicas: ReplicaRecord[] }>('GET', '/_local/replicas')).replicas;
  }

  writeReplica(volumeId: string, offset: number, data: Uint8Array): Promise<unknown> {
    return this.call('PUT', `/_local/replicas/${encodeURIComponent(volumeId)}/data?offset=${offset}`, data);
  }

  discardReplica(volumeId: string, offset: number, length: number): Promise<unknown> {
    return this.call('POST', `/_local/replicas/${encodeURIComponent(volumeId)}/discard`, { offset, length });
  }

  reportCheckpoint(
    volumeId: string,
    report: { checkpointId: string; checkpointTime?: string; syncState?: SyncState; backlogBytes?: number },
  ): Promise<ReplicaRecord> {
    return this.call('POST', `/_local/replicas/${encodeURIComponent(volumeId)}/checkpoint`, report);
  }

  /** The simulated replication agent: answer checkpoint requests or not, and after how long. */
  configureAgent(settings: Partial<AgentSettings>): Promise<AgentSettings> {
    return this.call('PUT', '/_local/agent', settings);
  }

  /** Sets what the simulated agent reports for a server's replication (on all its replica volumes). */
  setServerReplication(
    serverId: string,
    report: { replication: ReplicationState; lagSeconds?: number },
  ): Promise<{ serverId: string; replicas: ReplicaRecord[] }> {
    return this.call('POST', `/_local/servers/${encodeURIComponent(serverId)}/replication`, report);
  }

  /** Registers a raw image as the primary volume (the source server's own disk) of a server's device. */
  createPrimary(options: { imagePath: string; serverId: string; device?: string }): Promise<ReplicaRecord> {
    return this.call('POST', '/_local/primaries', options);
  }

  async listPrimaries(): Promise<ReplicaRecord[]> {
    return (await this.call<{ primaries: ReplicaRecord[] }>('GET', '/_local/primaries')).primaries;
  }

  /** Volumes EC2 CreateVolume made from snapshots (ec2-volumes.ts), not yet registered as replicas. */
  async listVolumesFromSnapshots(): Promise<ReplicaRecord[]> {
    return (await this.call<{ volumes: ReplicaRecord[] }>('GET', '/_local/volumes')).volumes;
  }

  /** Registers a volume made from a snapshot as a replica of a server's device (same volume id). */
  registerVolumeAsReplica(
    volumeId: string,
    options: { serverId: string; device?: string },
  ): Promise<ReplicaRecord> {
    return this.call('POST', `/_local/volumes/${encodeURIComponent(volumeId)}/replica`, options);
  }

  /** A local Lambda function that runs a shell command (command-functions.ts). */
  createFunction(spec: { name: string; command: string; timeoutSeconds?: number }): Promise<CommandFunction> {
    return this.call('POST', '/_local/functions', spec);
  }

  async listFunctions(): Promise<CommandFunction[]> {
    return (await this.call<{ functions: CommandFunction[] }>('GET', '/_local/functions')).functions;
  }

  removeFunction(name: string): Promise<CommandFunction> {
    return this.call('DELETE', `/_local/functions/${encodeURIComponent(name)}`);
  }

  setFaults(config: FaultConfig): Promise<FaultConfig> {
    return this.call('PUT', '/_local/faults', config);
  }

  stats(): Promise<GatewayStats> {
    return this.call('GET', '/_local/stats');
  }

  resetStats(): Promise<GatewayStats> {
    return this.call('DELETE', '/_local/stats');
  }

  private async call<T>(method: string, path: string, body?: object | Uint8Array): Promise<T> {
    const isBytes = body instanceof Uint8Array;
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers: { 'content-type': isBytes ? 'application/octet-stream' : 'application/json' },
        ...(body === undefined ? {} : { body: isBytes ? body : JSON.stringify(body) }),
      });
    } catch (error) {
      throw new LocalAdminError(
        `cannot reach the local gateway at ${this.base}: ${String(error)}`,
        0,
        'Unreachable',
      );
    }
    const text = await response.text();
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = { code: 'BadAnswer', message: text };
    }
    if (!response.ok) {
      const failure = value as { code?: string; message?: string };
      throw new LocalAdminError(
        failure.message ?? `HTTP ${response.status}`,
        response.status,
        failure.code ?? 'Error',
      );
    }
    return value as T;
  }
}
