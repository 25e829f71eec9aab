/**
 * The CDK app: `npx cdk synth` (cdk.json) or, without the CLI, `CDK_OUTDIR=cdk.out npx tsx bin/app.ts`.
 * Configuration: `-c rbp:config=path/to/config.json` (or the `rbp:config` object in cdk.json);
 * see lib/config.ts. cdk-nag's AwsSolutions checks run on every synth and fail it on any finding
 * that is not acknowledged with a reason.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CONFIG_CONTEXT_KEY, ConfigError, loadConfig } from '../lib/config.ts';
import { ReplicaBackupStack } from '../lib/stacks/replica-backup-stack.ts';

/** Stack name when the context does not give one. */
const DEFAULT_STACK_NAME = 'ReplicaBackupProxy';

export function buildApp(
  app: App = new App(process.env['CDK_OUTDIR'] === undefined ? {} : { outdir: process.env['CDK_OUTDIR'] }),
): App {
  const config = loadConfig(app.node.tryGetContext(CONFIG_CONTEXT_KEY));
  const stackName = (app.node.tryGetContext('rbp:stackName') as string | undefined) ?? DEFAULT_STACK_NAME;
  // The table's customer-managed key needs a region-specific stack.
  const region =
    (app.node.tryGetContext('rbp:region') as string | undefined) ??
    process.env['CDK_DEFAULT_REGION'] ??
    process.env['AWS_REGION'];
  if (region === undefined) {
    throw new ConfigError(
      'no AWS region: set AWS_REGION (or CDK_DEFAULT_REGION), or pass -c rbp:region=<region>',
    );
  }
  new ReplicaBackupStack(app, stackName, {
    config,
    env: { account: process.env['CDK_DEFAULT_ACCOUNT'], region },
  });
  // Acknowledgements and their reasons are also written into the template's Metadata (audit trail).
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { writeSuppressionsToCloudFormation: true }));
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    buildApp().synth();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
}
