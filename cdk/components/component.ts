import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type * as z from 'zod';
import type { ComponentName } from '#components/component.ts';
import type { BackupStore } from '../backup-store.ts';
import type { LiferayBackupConfig } from '../config.ts';
import type { BackupFunctionProps } from '../lambda-function.ts';
import type { Network } from '../network.ts';

/** What the stack gives every component construct. */
export interface ComponentContext {
  /** The whole validated configuration (network, EFS, ...). */
  readonly config: LiferayBackupConfig;
  readonly store: BackupStore;
  /** Network of the Lambdas that reach EFS, databases and search clusters; undefined when not configured. */
  readonly network: Network | undefined;
  /**
   * Creates one of the component's Lambdas with the common settings (runtime, arm64, JSON logs,
   * log group, tracing) and the component's settings in LIFERAY_BACKUP_SETTINGS.
   */
  createFunction(
    scope: Construct,
    id: string,
    props: BackupFunctionProps,
  ): import('aws-cdk-lib/aws-lambda').Function;
}

/**
 * The parts of the workflows a component contributes. Each chain's last state must output the
 * component's result (ComponentResult / ComponentRestoreResult in functions/components/component.ts);
 * the workflows wrap each chain with the Choice that skips an unselected component and the Catch
 * that turns a failure into a failed result, so a component never has to.
 *
 * State input: the Backup chains see `$.backup` (BackupContext) and `$.prepared.<name>` (their
 * prepare step's output at `.result`, or `{Error, Cause}` when it failed); the Restore chain sees `$.restore` (RestoreContext), its own validated
 * request at `$.restore.requests.<name>`. State names must be unique in the state machine: prefix
 * them with the component's title.
 */
export interface WorkflowComponent {
  readonly name: ComponentName;
  /**
   * Runs before the capture branches, in component order (e.g. start the database snapshot
   * before files are copied), only when the component is selected. Its output lands at
   * `$.prepared.<name>.result`; a failure puts `{Error, Cause}` at `$.prepared.<name>` and the
   * capture branch must fail the component with it.
   */
  prepareBackup?(scope: Construct): sfn.IChainable;
  captureBranch(scope: Construct): sfn.IChainable;
  restoreBranch(scope: Construct): sfn.IChainable;
  /**
   * The restore drill's check of this component, when it needs its own states (e.g. a fan-out);
   * its last state outputs `{component, status: verified|failed, checks, problems}`. Without it the
   * Verify workflow runs the module's `verify` hook in a function granted by `grantVerify`.
   */
  verifyBranch?(scope: Construct, workflows: { readonly restore: sfn.IStateMachine }): sfn.IChainable;
  /** What the generic verify function needs for this component's `verify` hook. */
  grantVerify?(fn: lambda.Function): void;
  /** Extra permissions a state machine needs for this component's states (e.g. a Distributed Map's ItemReader). */
  grantStateMachine?(role: iam.IGrantable, workflow: 'backup' | 'restore' | 'verify'): void;
  /**
   * What retention's functions need for this component's hooks (functions/components/component.ts
   * RetentionHooks): `deleteSet` runs deleteArtifacts (e.g. delete the set's snapshots), `markSet`
   * runs references. Also set any environment they need.
   */
  grantRetention?(functions: {
    readonly deleteSet: lambda.Function;
    readonly markSet: lambda.Function;
  }): void;
}

/** A component as the stack sees it: one entry in cdk/components/registry.ts. */
export interface ComponentDefinition {
  readonly name: ComponentName;
  /** Its part of `liferayBackup.components.<name>` in cdk.json; must have `enabled: boolean`. */
  readonly configSchema: z.ZodType<{ enabled: boolean }>;
  /**
   * The settings its Lambdas receive (validated again by the functions-side module at cold start).
   * Pure: computed from the configuration alone.
   */
  settings(config: LiferayBackupConfig): unknown;
  /** Creates its functions and grants. */
  create(scope: Construct, context: ComponentContext): WorkflowComponent;
}
