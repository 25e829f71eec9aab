/** The stack this project deploys: one ReplicaBackup construct configured from lib/config.ts. */
import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { ReplicaBackupConfig } from '../config.ts';
import { ReplicaBackup } from '../constructs/replica-backup.ts';

export interface ReplicaBackupStackProps extends StackProps {
  /**
   * The validated configuration.
   * @default - the schema defaults (no schedules)
   */
  readonly config?: ReplicaBackupConfig;
}

export class ReplicaBackupStack extends Stack {
  readonly backup: ReplicaBackup;

  constructor(scope: Construct, id: string, props: ReplicaBackupStackProps = {}) {
    super(scope, id, {
      description: 'Replica backup proxy: backups of replica EBS volumes into S3 with a file catalog',
      ...props,
    });
    this.backup = new ReplicaBackup(
      this,
      'ReplicaBackup',
      props.config === undefined ? {} : { config: props.config },
    );
  }
}
