/**
 * EventBridge Scheduler schedules that start the backup state machine for each configured server
 * and schedule. Resources are added to the given scope (see backup-storage.ts for why).
 */
import { Duration, TimeZone } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { scheduledBackupInput, type ProtectedServerConfig } from '../config.ts';

/** A start that fails (throttled, state machine briefly unavailable) is retried this often. */
const SCHEDULE_RETRY_ATTEMPTS = 3;
/** A start not delivered within an hour is dropped: the next scheduled backup is the better one. */
const SCHEDULE_MAX_EVENT_AGE = Duration.hours(1);
/** EventBridge Scheduler's limit on schedule names (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html). */
const SCHEDULE_NAME_MAX_CHARS = 64;

export interface BackupSchedulesProps {
  /** Schedule names start with `<prefix>-`. */
  readonly prefix: string;
  readonly servers: readonly ProtectedServerConfig[];
  readonly stateMachine: sfn.IStateMachine;
  /** Encrypts the schedules. */
  readonly key: kms.IKey;
}

export class BackupSchedules {
  readonly schedules: scheduler.Schedule[] = [];

  constructor(scope: Construct, props: BackupSchedulesProps) {
    for (const server of props.servers) {
      for (const schedule of server.schedules ?? []) {
        const target = new schedulerTargets.StepFunctionsStartExecution(props.stateMachine, {
          input: scheduler.ScheduleTargetInput.fromObject(scheduledBackupInput(server, schedule)),
          retryAttempts: SCHEDULE_RETRY_ATTEMPTS,
          maxEventAge: SCHEDULE_MAX_EVENT_AGE,
        });
        this.schedules.push(
          new scheduler.Schedule(scope, `Schedule-${server.serverId}-${schedule.name}`, {
            scheduleName: `${props.prefix}-${server.serverId}-${schedule.name}`.slice(
              0,
              SCHEDULE_NAME_MAX_CHARS,
            ),
            description: `Backup of ${server.serverId} (${schedule.expression} ${schedule.timeZone})`,
            schedule: scheduler.ScheduleExpression.expression(
              schedule.expression,
              TimeZone.of(schedule.timeZone),
            ),
            target,
            key: props.key,
          }),
        );
      }
    }
  }
}
