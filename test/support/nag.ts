import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';

interface ValidationReport {
  pluginReports: { violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[] }[];
}

/**
 * Runs cdk-nag's AwsSolutions checks on the app and returns the unacknowledged findings that
 * concern the caller ("rule path"), read from the validation report that a failed synth writes.
 */
export function nagFindings(
  app: App,
  concerns: (ruleName: string, constructPath: string) => boolean,
): string[] {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  try {
    app.synth({ force: true });
    return [];
  } catch {
    const report = JSON.parse(
      readFileSync(path.join(app.outdir, 'validation-report.json'), 'utf8'),
    ) as ValidationReport;
    return report.pluginReports.flatMap((plugin) =>
      plugin.violations.flatMap((violation) =>
        violation.violatingConstructs
          .filter((construct) => concerns(violation.ruleName, construct.constructPath))
          .map((construct) => `${violation.ruleName} ${construct.constructPath}`),
      ),
    );
  }
}
