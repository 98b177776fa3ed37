import type { ComponentDefinition } from './component.ts';
import { databaseComponent } from './database.ts';
import { appServerDefinition, liferayHomeDefinition } from './files.ts';
import { searchDefinition } from './search.ts';
import { sourceDefinition } from './source.ts';

/**
 * The components this stack can deploy. Adding a component is one line here (and its module in
 * functions/components/registry.ts).
 */
export const CDK_COMPONENTS: readonly ComponentDefinition[] = [
  databaseComponent,
  liferayHomeDefinition,
  appServerDefinition,
  searchDefinition,
  sourceDefinition,
];
