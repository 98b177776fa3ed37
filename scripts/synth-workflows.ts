/**
 * Regenerates the state machine definitions that local mode runs (functions/local/workflows/*.asl.json)
 * from the CDK stack, synthesized with functions/local/workflows/config.json (every component on).
 * A test fails when the committed files differ from what this produces: run `npm run workflows`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { definitionsFromTemplate } from '#local/template-definitions.ts';
import { synthTemplate } from '../cdk/synth.ts';

export const WORKFLOWS_DIR = path.resolve(import.meta.dirname, '../functions/local/workflows');

export function synthesizeLocalDefinitions(): Record<string, unknown> {
  const config = JSON.parse(readFileSync(path.join(WORKFLOWS_DIR, 'config.json'), 'utf8')) as unknown;
  return definitionsFromTemplate(synthTemplate(config) as never);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const definitions = synthesizeLocalDefinitions();
  for (const [name, definition] of Object.entries(definitions)) {
    const file = path.join(WORKFLOWS_DIR, `${name}.asl.json`);
    writeFileSync(file, `${JSON.stringify(definition, null, 2)}\n`);
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
  }
}
