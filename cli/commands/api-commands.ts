/** The command groups that talk to the REST API (volumes, images, files, apps, backup, restore, plans, servers, settings, retention, workflows). */
import type { Command } from 'commander';
import { registerAppCommands } from './apps.ts';
import { registerBackupCommands } from './backup.ts';
import { registerFileCommands } from './files.ts';
import { registerImageCommands } from './images.ts';
import { registerLifecycleCommands } from './lifecycle.ts';
import { registerPlanCommandGroups } from './plans.ts';
import { registerRecoveryPointCommands } from './recovery-points.ts';
import { registerRestoreCommands } from './restore.ts';
import { registerRestoreTestCommands } from './restore-test.ts';
import { registerVolumeCommands } from './volumes.ts';
import { registerWorkflowCommands } from './workflows.ts';

export function registerApiCommands(program: Command): void {
  registerVolumeCommands(program);
  registerImageCommands(program);
  registerFileCommands(program);
  registerAppCommands(program);
  registerBackupCommands(program);
  registerRestoreCommands(program);
  registerRecoveryPointCommands(program);
  registerPlanCommandGroups(program);
  registerLifecycleCommands(program);
  registerRestoreTestCommands(program);
  registerWorkflowCommands(program);
}
