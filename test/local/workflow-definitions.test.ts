import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { allHandlers } from '#local/handlers.ts';
import { lambdaTasks } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import { synthesizeLocalDefinitions, WORKFLOWS_DIR } from '../../scripts/synth-workflows.ts';

describe('the definitions local mode runs', () => {
  it('are exactly what the CDK stack synthesizes (run `npm run workflows` after changing a construct)', () => {
    const synthesized = synthesizeLocalDefinitions();
    for (const name of ['backup', 'restore', 'retention', 'verify']) {
      const committed = JSON.parse(
        readFileSync(path.join(WORKFLOWS_DIR, `${name}.asl.json`), 'utf8'),
      ) as unknown;
      expect(committed, `${name}.asl.json is stale: run npm run workflows`).toEqual(synthesized[name]);
    }
  });

  it('bind every Lambda task to a handler of this build', () => {
    const handlers = allHandlers();
    for (const definition of Object.values(WORKFLOWS)) {
      const tasks = lambdaTasks(definition);
      expect(tasks.length).toBeGreaterThan(3);
      for (const task of tasks)
        expect(handlers.has(task.handlerId), `${task.stateName} → ${task.handlerId}`).toBe(true);
    }
  });
});
