/**
 * RestoredVolumes and AvailabilityZones in memory, as EC2 answers them: CreateVolume makes a
 * `creating` volume (ClientToken honoured unless `ignoreClientToken`, as moto ignores it),
 * DescribeVolumes finds it by its tags, `settle` moves volumes on (`available` or `error`), and
 * `refuse` makes CreateVolume fail with the given error.
 */
import type {
  AvailabilityZones,
  CreateRestoredVolumeRequest,
  RestoredVolume,
  RestoredVolumeState,
  RestoredVolumes,
} from '../../lambdas/core/restore/restored-volumes.ts';

export class MemoryRestoredVolumes implements RestoredVolumes {
  readonly volumes: { volumeId: string; state: RestoredVolumeState; request: CreateRestoredVolumeRequest }[] =
    [];
  createRequests = 0;
  describeRequests = 0;
  refuse: Error | undefined;

  constructor(private readonly options: { readonly ignoreClientToken?: boolean } = {}) {}

  findRestoredVolume(serverRestoreId: string, device: string): Promise<RestoredVolume | undefined> {
    this.describeRequests += 1;
    const found = this.volumes.find(
      (v) => v.request.tags['rbp:restore-id'] === serverRestoreId && v.request.tags['rbp:device'] === device,
    );
    return Promise.resolve(
      found === undefined ? undefined : { volumeId: found.volumeId, state: found.state },
    );
  }

  createVolume(request: CreateRestoredVolumeRequest): Promise<RestoredVolume> {
    this.createRequests += 1;
    if (this.refuse !== undefined) return Promise.reject(this.refuse);
    const same =
      this.options.ignoreClientToken === true
        ? undefined
        : this.volumes.find((v) => v.request.clientToken === request.clientToken);
    if (same !== undefined) return Promise.resolve({ volumeId: same.volumeId, state: same.state });
    const volume = {
      volumeId: `vol-${String(this.volumes.length).padStart(17, '0')}`,
      state: 'creating' as RestoredVolumeState,
      request,
    };
    this.volumes.push(volume);
    return Promise.resolve({ volumeId: volume.volumeId, state: volume.state });
  }

  /** Every `creating` volume becomes `state`. */
  settle(state: RestoredVolumeState = 'available'): void {
    for (const v of this.volumes) if (v.state === 'creating') v.state = state;
  }
}

export class MemoryAvailabilityZones implements AvailabilityZones {
  requests = 0;
  constructor(private readonly names: readonly string[] = ['us-east-1a', 'us-east-1b', 'us-east-1c']) {}
  zoneNames(): Promise<readonly string[]> {
    this.requests += 1;
    return Promise.resolve(this.names);
  }
}
