import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../cdk/config.ts';
import { FULL_CONFIG } from './support.ts';

/**
 * A component's wait loop (database snapshot or restore, search snapshot or recovery) gives up
 * after its configured checks and fails that component only: the set is partial, the post hook
 * runs, Commit (or Report) records why. When those checks may outlast the workflow's own time-out
 * (backupTimeoutHours for Backup, 24 hours for Restore), Step Functions ends the whole execution
 * first: TIMED_OUT, no Commit (every other component's work is lost with the set), and the post
 * hook never runs (README, Capture hooks). `cdk synth` must refuse such a configuration, naming
 * the key.
 */

const components = FULL_CONFIG.components as Record<string, Record<string, unknown>>;

describe('wait loops that could outlast their workflow', () => {
  it('refuses search checks (720 × 60 s = 12 h, and an hour of busy-repository retries) longer than backupTimeoutHours 6', () => {
    // Prepare
    const config = {
      ...FULL_CONFIG,
      backupTimeoutHours: 6,
      components: { ...components, search: { ...components.search, waitSeconds: 60, maxChecks: 720 } },
    };
    // Act / Assess
    expect(() => parseConfig(config)).toThrow(
      /liferayBackup\.components\.search\.maxChecks: 720 checks 60 s apart .*may wait 13\.1 h, not less than backupTimeoutHours \(6\)/,
    );
  });

  it('refuses database checks (240 × 60 s and the 30-minute not-available window) longer than backupTimeoutHours 4', () => {
    const config = { ...FULL_CONFIG, backupTimeoutHours: 4 };
    expect(() => parseConfig(config)).toThrow(
      /liferayBackup\.components\.database\.maxWaitAttempts: .*backupTimeoutHours \(4\)/,
    );
  });

  it("refuses database checks longer than the Restore workflow's 24 hours", () => {
    const config = {
      ...FULL_CONFIG,
      backupTimeoutHours: 48,
      retention: { graceHours: 72 },
      components: {
        ...components,
        database: { ...components.database, waitIntervalSeconds: 60, maxWaitAttempts: 1800 },
      },
    };
    expect(() => parseConfig(config)).toThrow(
      /liferayBackup\.components\.database\.maxWaitAttempts: .*30 h.*Restore workflow's time-out \(24 h\)/,
    );
  });

  it('accepts the defaults and the example configurations', () => {
    expect(() => parseConfig(FULL_CONFIG)).not.toThrow();
    expect(() => parseConfig({ ...FULL_CONFIG, backupTimeoutHours: 13 })).not.toThrow();
  });
});
