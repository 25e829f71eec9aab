/**
 * Client of the small /_rbp/ endpoint that moto_patch.py adds to moto: it registers EC2 snapshots
 * and volumes under ids chosen by the local stack (the EBS emulator's snapshot ids, replica volume
 * ids after a restart) and sets a snapshot's status and progress.
 */
import { LOCAL_REGION } from '../gateway/local-account.ts';

export interface MotoSnapshotRegistration {
  readonly snapshotId: string;
  /** The source volume when moto knows it; otherwise moto shows vol-ffffffff as AWS does. */
  readonly volumeId?: string;
  readonly volumeSizeGib?: number;
  readonly description?: string;
  readonly tags?: Readonly<Record<string, string>>;
  readonly status?: 'pending' | 'completed' | 'error';
  /** e.g. "42%". */
  readonly progress?: string;
  readonly region?: string;
}

export interface MotoVolumeRegistration {
  readonly volumeId: string;
  readonly sizeGib: number;
  readonly tags?: Readonly<Record<string, string>>;
  readonly region?: string;
}

export class MotoAdmin {
  constructor(private readonly motoEndpoint: string) {}

  putSnapshot(registration: MotoSnapshotRegistration): Promise<void> {
    return this.post('/_rbp/ec2/snapshot', { region: LOCAL_REGION, ...registration });
  }

  putVolume(registration: MotoVolumeRegistration): Promise<void> {
    return this.post('/_rbp/ec2/volume', { region: LOCAL_REGION, ...registration });
  }

  /** Writes moto's state to the file it was started with (RBP_MOTO_STATE_FILE), atomically. */
  saveState(): Promise<void> {
    return this.post('/_rbp/state/save', {});
  }

  private async post(path: string, body: object): Promise<void> {
    const response = await fetch(`${this.motoEndpoint}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`moto ${path} answered HTTP ${response.status}: ${text}`);
  }
}
